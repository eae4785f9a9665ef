"""The single-file checkpoint: configs, units and tokens, CMVN statistics, weights and a format version.

Loading validates every part and names what is wrong, so a mismatched or damaged file is
refused with a message instead of failing somewhere deep in the model.

Weights are stored in float32 (training runs), float16 or int8 (shipped models). int8 keeps each
weight matrix as integers in -127..127 with one float32 scale per row (a quarter of float32's
bytes), quantized by the int8 inference path's own ``quantize_rows`` (asr/int8.py), which therefore
reproduces the stored integers exactly on CPUs whose kernels take 8-bit weights; loading makes every
weight float32.
"""

from __future__ import annotations

import dataclasses
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from asr.config import ExperimentConfig, FeatureConfig, ModelConfig, from_dict
from asr.int8 import FULL_WEIGHT_LEVELS, quantize_rows
from asr.model import AcousticModel
from asr.tokens import Tokenizer

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "WEIGHT_STORAGE",
    "MODELS_DIR",
    "DEFAULT_MODEL",
    "CheckpointError",
    "Checkpoint",
    "save_checkpoint",
    "load_checkpoint",
    "resolve_model_path",
    "random_checkpoint",
]

FORMAT = "asr-lstm-ctc"
FORMAT_VERSION = 2  # 2 added int8 weights; a file without them is written as version 1, which older programs read
WEIGHT_STORAGE = ("float32", "float16", "int8")
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = "en-phone-v36"
_REQUIRED_KEYS = ("format", "format_version", "feature_config", "model_config", "tokens", "cmvn", "state_dict")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Checkpoint:
    model: AcousticModel
    tokenizer: Tokenizer
    features: FeatureConfig
    metadata: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(checkpoint: Checkpoint, path: str | Path, weights: str = "float32") -> None:
    """Write ``checkpoint`` to ``path`` (atomically: a crash never leaves half a file).

    ``weights`` (``WEIGHT_STORAGE``) is how they are stored. For shipping a model, float16 halves the
    file and moves the log-probs by about 1e-3; int8 quarters the weight matrices (biases stay float16)
    and moves them by about 1e-2 (tests/test_checkpoint.py). Loading makes them float32 again.
    """
    if weights not in WEIGHT_STORAGE:
        raise ValueError(f"weights must be one of {', '.join(WEIGHT_STORAGE)}, not {weights!r}")
    path = Path(path)
    model = checkpoint.model
    state = {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()}
    matrices = [name for name, tensor in state.items() if weights == "int8" and tensor.is_floating_point() and tensor.dim() == 2]
    int8_weights = {}
    for name in matrices:
        values, scales = quantize_rows(state.pop(name), FULL_WEIGHT_LEVELS)
        int8_weights[name] = {"values": values, "scales": scales}
    stored = torch.float32 if weights == "float32" else torch.float16
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION if int8_weights else 1,
        "feature_config": dataclasses.asdict(checkpoint.features),
        "model_config": dataclasses.asdict(model.config),
        "tokens": list(checkpoint.tokenizer.tokens),
        "cmvn": {"mean": model.cmvn_mean.detach().cpu().clone(), "std": model.cmvn_std.detach().cpu().clone()},
        "state_dict": {name: tensor.to(stored) if tensor.is_floating_point() else tensor for name, tensor in state.items()},
        "metadata": dict(checkpoint.metadata),
    }
    if int8_weights:
        payload["int8_weights"] = int8_weights
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(payload, partial)
    partial.replace(path)


def _dequantize_rows(name: str, entry: Any) -> torch.Tensor:
    """The float32 (J, K) matrix an ``int8_weights`` entry holds; ValueError naming the entry if it is malformed."""
    values, scales = (entry.get("values"), entry.get("scales")) if isinstance(entry, dict) else (None, None)
    if not (isinstance(values, torch.Tensor) and values.dtype == torch.int8 and values.dim() == 2):
        raise ValueError(f"int8_weights[{name!r}] needs 'values', a 2-D int8 tensor")
    if not (isinstance(scales, torch.Tensor) and scales.is_floating_point() and scales.shape == values.shape[:1]):
        raise ValueError(f"int8_weights[{name!r}] needs 'scales', one float per row of its {tuple(values.shape)} values")
    return values.float() * scales.float()[:, None]


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> Checkpoint:
    """Read and validate a checkpoint; the model is in eval mode on ``device``."""
    path = Path(path)
    payload = _read_payload(path)
    try:
        checkpoint = _build(payload)
    except (ValueError, KeyError, TypeError, RuntimeError) as error:
        raise CheckpointError(f"{path}: {error}") from None
    checkpoint.model.to(device).eval()
    return checkpoint


def _read_payload(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint file not found")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory; expected a checkpoint file (model.pt)")
    _verify_archive(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch's safe unpickler raises many types (KeyError, EOFError, ...) on garbage
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint (corrupt or not a torch file: {first_line})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an {FORMAT} checkpoint")
    if payload.get("format_version") not in range(1, FORMAT_VERSION + 1):
        raise CheckpointError(
            f"{path}: checkpoint format version {payload.get('format_version')!r}; this program reads versions 1 to {FORMAT_VERSION}"
        )
    missing = [key for key in _REQUIRED_KEYS if key not in payload]
    if missing:
        raise CheckpointError(f"{path}: missing entries: {', '.join(missing)}")
    return payload


def _verify_archive(path: Path) -> None:
    """Check the CRC-32 that torch.save's zip archive holds for every entry (about 25 ms for 30 MB).

    torch.load does not: a flipped byte in the weights would otherwise load silently and change
    what the model says.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise CheckpointError(f"{path}: not a readable checkpoint (corrupt or not a torch file: {error})") from None
    if damaged is not None:
        raise CheckpointError(f"{path}: corrupt: its entry {damaged} fails its CRC-32 check (the file was damaged after it was written)")


def _build(payload: dict[str, Any]) -> Checkpoint:
    features = from_dict(FeatureConfig, payload["feature_config"], "feature_config")
    model_config = from_dict(ModelConfig, payload["model_config"], "model_config")
    ExperimentConfig(features=features, model=model_config)  # cross-checks the two
    tokens = payload["tokens"]
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise ValueError("tokens must be a list of strings")
    tokenizer = Tokenizer(tokens, model_config.units)
    if len(tokenizer) != model_config.vocab_size:
        raise ValueError(f"{len(tokenizer)} tokens but model_config.vocab_size is {model_config.vocab_size}")
    model = AcousticModel(model_config)
    cmvn = payload["cmvn"]
    if not isinstance(cmvn, dict) or not {"mean", "std"} <= set(cmvn):
        raise ValueError("cmvn must hold 'mean' and 'std'")
    model.set_cmvn(cmvn["mean"], cmvn["std"])
    int8_weights = payload.get("int8_weights", {})
    if not isinstance(int8_weights, dict):
        raise ValueError("int8_weights must map weight names to their values and scales")
    state = {**payload["state_dict"], **{name: _dequantize_rows(name, entry) for name, entry in int8_weights.items()}}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ValueError(f"weights do not match model_config: {' '.join(str(error).split())}") from None
    metadata = payload.get("metadata", {})
    return Checkpoint(model=model, tokenizer=tokenizer, features=features, metadata=metadata if isinstance(metadata, dict) else {})


def resolve_model_path(model: str | Path | None) -> Path:
    """``None`` -> the shipped default; a directory -> its ``model.pt``; a bare name -> ``models/<name>/model.pt``."""
    if model is None:
        model = DEFAULT_MODEL
    candidate = Path(model)
    if candidate.is_dir():
        return candidate / "model.pt"
    if candidate.exists() or candidate.suffix or len(candidate.parts) > 1:
        return candidate
    return MODELS_DIR / str(model) / "model.pt"


def random_checkpoint(config: ExperimentConfig = ExperimentConfig(), seed: int = 0) -> Checkpoint:
    """An untrained model with seeded weights: for tests, benchmarks and as a training start."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = AcousticModel(config.model).eval()
    finally:
        torch.random.set_rng_state(generator_state)
    tokenizer = Tokenizer.for_units(config.model.units)
    if len(tokenizer) != config.model.vocab_size:
        raise ValueError(f"model.vocab_size must be {len(tokenizer)} for the standard {config.model.units}")
    return Checkpoint(model=model, tokenizer=tokenizer, features=config.features, metadata={"trained": False, "seed": seed})

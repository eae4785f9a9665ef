"""The single-file checkpoint: configs, units and tokens, CMVN statistics, weights and a format version.

Loading validates every part and names what is wrong, so a mismatched or damaged file is
refused with a message instead of failing somewhere deep in the model.
"""

from __future__ import annotations

import dataclasses
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from asr.config import ExperimentConfig, FeatureConfig, ModelConfig, from_dict
from asr.model import AcousticModel
from asr.tokens import Tokenizer

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
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
FORMAT_VERSION = 1
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = "en-phone-v22"
_REQUIRED_KEYS = ("format", "format_version", "feature_config", "model_config", "tokens", "cmvn", "state_dict")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Checkpoint:
    model: AcousticModel
    tokenizer: Tokenizer
    features: FeatureConfig
    metadata: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(checkpoint: Checkpoint, path: str | Path, half: bool = False) -> None:
    """Write ``checkpoint`` to ``path`` (atomically: a crash never leaves half a file).

    ``half`` stores the weights in float16, half the size, for shipping a model: loading makes them
    float32 again, and the log-probs move by about 1e-3 (tests/test_checkpoint.py).
    """
    path = Path(path)
    model = checkpoint.model
    stored = torch.float16 if half else torch.float32
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "feature_config": dataclasses.asdict(checkpoint.features),
        "model_config": dataclasses.asdict(model.config),
        "tokens": list(checkpoint.tokenizer.tokens),
        "cmvn": {"mean": model.cmvn_mean.detach().cpu().clone(), "std": model.cmvn_std.detach().cpu().clone()},
        "state_dict": {k: v.detach().cpu().to(stored) if v.is_floating_point() else v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": dict(checkpoint.metadata),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(payload, partial)
    partial.replace(path)


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
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {payload.get('format_version')!r}; this program reads version {FORMAT_VERSION}"
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
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
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

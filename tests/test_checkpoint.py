"""Checkpoints round-trip, and a mismatched or damaged file is refused with a precise message."""

from __future__ import annotations

import random
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from asr.checkpoint import CheckpointError, load_checkpoint, random_checkpoint, resolve_model_path, save_checkpoint, MODELS_DIR
from asr.config import ExperimentConfig, ModelConfig
from tests.conftest import TINY


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    checkpoint = random_checkpoint(TINY, seed=5)
    checkpoint.model.set_cmvn(torch.linspace(-3, 3, 80), torch.linspace(0.5, 2, 80))
    path = tmp_path / "model.pt"
    save_checkpoint(checkpoint, path)
    return path


def test_round_trip_keeps_weights_cmvn_tokens_and_configs(saved: Path) -> None:
    original = random_checkpoint(TINY, seed=5)
    loaded = load_checkpoint(saved)
    assert loaded.model.config == TINY.model and loaded.features == TINY.features
    assert loaded.tokenizer.tokens == original.tokenizer.tokens
    for name, tensor in original.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], tensor), name
    assert torch.equal(loaded.model.cmvn_mean, torch.linspace(-3, 3, 80))
    assert loaded.metadata == {"trained": False, "seed": 5}
    assert not loaded.model.training


def tamper(path: Path, change) -> None:
    payload = torch.load(path, weights_only=True)
    change(payload)
    torch.save(payload, path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.update(format="something-else"), "not an asr-lstm-ctc checkpoint"),
        (lambda p: p.update(format_version=99), "format version 99; this program reads versions 1 to 2"),
        (lambda p: p.pop("cmvn"), "missing entries: cmvn"),
        (lambda p: p["model_config"].update(hidden=64), "weights do not match model_config"),
        (lambda p: p["model_config"].update(colour="red"), "model_config: unknown key"),
        (lambda p: p["feature_config"].update(n_mels=40), r"model.n_mels \(80\) must equal features.n_mels \(40\)"),
        (lambda p: p.update(tokens=p["tokens"][:-1]), "28 tokens but model_config.vocab_size is 29"),
        (lambda p: p.update(tokens=["a", "<blank>"] + p["tokens"][2:]), "first token must be"),
        (lambda p: p["cmvn"].update(std=torch.zeros(80)), "positive std"),
        (lambda p: p["cmvn"].update(mean=torch.zeros(40)), "shape"),
        (lambda p: p["state_dict"].pop("output.bias"), "Missing key"),
        (lambda p: p.update(int8_weights=[1, 2]), "int8_weights must map weight names"),
        (lambda p: p.update(int8_weights={"output.weight": {"values": torch.zeros(29, 64)}}), r"int8_weights\['output.weight'\] needs 'values'"),
        (
            lambda p: p.update(int8_weights={"output.weight": {"values": torch.zeros(29, 64, dtype=torch.int8), "scales": torch.ones(3)}}),
            r"int8_weights\['output.weight'\] needs 'scales', one float per row of its \(29, 64\) values",
        ),
    ],
)
def test_mismatched_checkpoints_are_refused_with_the_reason(saved: Path, change, message: str) -> None:
    tamper(saved, change)
    with pytest.raises(CheckpointError, match=message) as caught:
        load_checkpoint(saved)
    assert str(saved) in str(caught.value)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[: len(data) // 2], "not a readable checkpoint"),
        (lambda data: b"", "not a readable checkpoint"),
        (lambda data: b"hello, I am a text file\n" * 10, "not a readable checkpoint"),
    ],
)
def test_damaged_files_are_refused(saved: Path, damage, message: str) -> None:
    saved.write_bytes(damage(saved.read_bytes()))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(saved)


def _entry_data_offsets(path: Path) -> dict[str, int]:
    """Where each zip entry's stored bytes start in the file (torch.save stores them uncompressed)."""
    data = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    offsets = {}
    for info in infos:  # a local header is 30 bytes, then the name and the extra field, then the data
        name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
        offsets[info.filename] = info.header_offset + 30 + name_length + extra_length
    return offsets


def test_a_flipped_byte_in_any_stored_tensor_is_refused_not_loaded(saved: Path) -> None:
    """A hostile probe flipped single bytes in model.pt: torch.load read them as other weights, silently."""
    pristine = saved.read_bytes()
    tensors = {name: offset for name, offset in _entry_data_offsets(saved).items() if "/data/" in name}
    assert len(tensors) >= 10
    for name, offset in tensors.items():
        damaged = bytearray(pristine)
        damaged[offset] ^= 0x01
        saved.write_bytes(bytes(damaged))
        with pytest.raises(CheckpointError, match="fails its CRC-32 check") as caught:
            load_checkpoint(saved)
        assert str(saved) in str(caught.value) and name in str(caught.value)


def test_garbage_in_the_middle_of_a_checkpoint_is_a_clear_cli_error(saved: Path, tmp_path: Path) -> None:
    data = bytearray(saved.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4096] = bytes(random.Random(0).randrange(256) for _ in range(4096))
    saved.write_bytes(bytes(data))
    audio = tmp_path / "a.wav"
    soundfile.write(audio, np.zeros(1600, dtype=np.float32), 16000)
    result = subprocess.run([sys.executable, "-m", "asr", "transcribe", str(audio), "--model", str(saved)], capture_output=True, text=True)
    assert result.returncode != 0 and result.stdout == ""
    assert str(saved) in result.stderr and "corrupt" in result.stderr and "Traceback" not in result.stderr


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "absent.pt")
    with pytest.raises(CheckpointError, match="is a directory"):
        load_checkpoint(tmp_path)


def test_save_is_atomic_and_leaves_no_partial_file(saved: Path) -> None:
    assert [p.name for p in saved.parent.iterdir()] == ["model.pt"]


def test_model_names_resolve_under_models(tmp_path: Path) -> None:
    assert resolve_model_path(None) == MODELS_DIR / "en-phone-v36" / "model.pt"
    assert resolve_model_path("other") == MODELS_DIR / "other" / "model.pt"
    assert resolve_model_path(str(tmp_path)) == tmp_path / "model.pt"
    assert resolve_model_path("x/y.pt") == Path("x/y.pt")


@pytest.mark.parametrize(("weights", "size_ratio", "largest_change"), [("float16", 0.6, 1e-2), ("int8", 0.35, 5e-2)])
def test_smaller_weights_shrink_the_file_and_barely_move_the_output(tmp_path: Path, weights: str, size_ratio: float, largest_change: float) -> None:
    checkpoint = random_checkpoint(ExperimentConfig(model=ModelConfig(layers=2, hidden=128, proj=64)), seed=2)
    save_checkpoint(checkpoint, tmp_path / "full.pt")
    save_checkpoint(checkpoint, tmp_path / "small.pt", weights=weights)
    assert (tmp_path / "small.pt").stat().st_size < size_ratio * (tmp_path / "full.pt").stat().st_size
    small = load_checkpoint(tmp_path / "small.pt")
    assert all(p.dtype == torch.float32 for p in small.model.parameters())
    steps = torch.randn(1, 50, checkpoint.model.config.input_dim)
    with torch.inference_mode():
        difference = (small.model(steps)[0] - checkpoint.model(steps)[0]).abs().max().item()
    assert 0 < difference < largest_change


def test_int8_weights_are_each_rows_nearest_of_255_levels_and_survive_a_second_save(tmp_path: Path) -> None:
    checkpoint = random_checkpoint(ExperimentConfig(model=ModelConfig(layers=1, hidden=32, proj=16)), seed=3)
    save_checkpoint(checkpoint, tmp_path / "once.pt", weights="int8")
    once = load_checkpoint(tmp_path / "once.pt")
    for name, original in checkpoint.model.state_dict().items():
        stored = once.model.state_dict()[name]
        if original.dim() == 2:  # within half a level of its row's step, and each row's largest weight exact
            step = original.abs().amax(dim=1, keepdim=True) / 127
            assert ((stored - original).abs() <= step / 2 + 1e-6).all(), name
            assert torch.allclose(stored.abs().amax(dim=1), original.abs().amax(dim=1)), name
    save_checkpoint(once, tmp_path / "twice.pt", weights="int8")
    twice = load_checkpoint(tmp_path / "twice.pt")
    for name, tensor in once.model.state_dict().items():
        assert torch.allclose(twice.model.state_dict()[name], tensor, atol=1e-6), name  # already on the grid: nothing moves
    assert torch.load(tmp_path / "once.pt", weights_only=True)["format_version"] == 2


def test_float_checkpoints_stay_readable_by_format_version_1_programs(saved: Path) -> None:
    assert torch.load(saved, weights_only=True)["format_version"] == 1


def test_an_unknown_weight_storage_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="weights must be one of float32, float16, int8, not 'int4'"):
        save_checkpoint(random_checkpoint(TINY), tmp_path / "model.pt", weights="int4")
    assert not list(tmp_path.iterdir())


def test_the_checkpoint_says_which_units_it_carries(tmp_path: Path) -> None:
    phones = random_checkpoint(ExperimentConfig(model=ModelConfig(layers=1, hidden=16, proj=0, vocab_size=41, units="phones")))
    save_checkpoint(phones, tmp_path / "phones.pt")
    loaded = load_checkpoint(tmp_path / "phones.pt")
    assert loaded.model.config.units == "phones" and loaded.tokenizer.units == "phones" and loaded.tokenizer.separator == "|"
    with pytest.raises(ValueError, match="vocab_size must be 41"):
        random_checkpoint(ExperimentConfig(model=ModelConfig(units="phones")))  # 29 outputs cannot be phones

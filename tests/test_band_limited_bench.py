"""bench/band_limited.py: its filter's response, and the copies and manifest it writes."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from asr.data.manifest import ManifestEntry, read_manifest, write_manifest
from tests.conftest import synth_signal


def _bench():
    spec = importlib.util.spec_from_file_location("band_limited", Path(__file__).parent.parent / "bench" / "band_limited.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _level_db(wave: torch.Tensor) -> float:
    return 20 * math.log10(float(wave[4000:].square().mean().sqrt()))  # past the filter's start-up


@pytest.mark.parametrize("frequency, low, high", [(1000.0, -0.5, 0.5), (4500.0, -3.5, -2.5), (6000.0, -200.0, -40.0)])
def test_the_low_pass_keeps_the_band_below_its_corner_and_removes_the_top(frequency: float, low: float, high: float) -> None:
    tone = torch.sin(2 * math.pi * frequency * torch.arange(16000) / 16000)
    gain = _level_db(_bench().low_pass(tone, 4500.0)) - _level_db(tone)
    assert low < gain < high


def test_it_copies_the_chosen_conditions_with_their_texts_and_voices(tmp_path: Path) -> None:
    rows = []
    for index, (condition, voice) in enumerate([("clean", "flite:awb"), ("noisy", "flite:awb"), ("clean", "flite:kal16")]):
        path = tmp_path / "split" / f"{index}.wav"
        path.parent.mkdir(exist_ok=True)
        soundfile.write(path, synth_signal(0.5, seed=index), 16000)
        rows.append(ManifestEntry(path, f"text {index}", 0.5, condition, voice))
    write_manifest(rows, tmp_path / "split" / "test.jsonl")
    out = tmp_path / "out"
    _bench().main([str(tmp_path / "split" / "test.jsonl"), str(out), "--cutoff", "3000"])
    copies = read_manifest(out / "test.jsonl")
    assert [(e.text, e.condition, e.voice) for e in copies] == [("text 0", "clean", "flite:awb"), ("text 2", "clean", "flite:kal16")]
    for copy, original in zip(copies, (rows[0], rows[2])):
        assert copy.audio.parent == out / "audio"
        filtered, rate = soundfile.read(copy.audio, dtype="float32")
        source, _ = soundfile.read(original.audio, dtype="float32")
        assert rate == 16000 and filtered.shape == source.shape
        window = np.hanning(source.size)  # no leakage from the ends' mismatch into the top band
        spectrum, source_spectrum = np.abs(np.fft.rfft(filtered * window)), np.abs(np.fft.rfft(source * window))
        top = np.fft.rfftfreq(source.size, 1 / 16000) > 5000
        assert spectrum[top].sum() < 0.01 * source_spectrum[top].sum()


def test_it_refuses_a_cutoff_past_nyquist_and_conditions_the_split_lacks(tmp_path: Path) -> None:
    path = tmp_path / "0.wav"
    soundfile.write(path, synth_signal(0.5), 16000)
    write_manifest([ManifestEntry(path, "text", 0.5, "clean", "flite:awb")], tmp_path / "test.jsonl")
    with pytest.raises(SystemExit):
        _bench().main([str(tmp_path / "test.jsonl"), str(tmp_path / "out"), "--cutoff", "9000"])
    with pytest.raises(SystemExit):
        _bench().main([str(tmp_path / "test.jsonl"), str(tmp_path / "out"), "--conditions", "reverberant"])
    assert not (tmp_path / "out").exists()

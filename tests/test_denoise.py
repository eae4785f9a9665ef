"""RNNoise's light mix (--denoise): the same samples for any chunking, lined up with the input, noise taken down."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import asr.denoise
from asr.cli import build_parser
from asr.denoise import DEFAULT_MIX, DenoiseError, RNNoiseMix
from tests.conftest import synth_signal

SIGNAL = synth_signal(0.8, seed=3)  # (N,) float32 at 16 kHz


def denoise_in_pieces(stage: RNNoiseMix, signal: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Feed ``signal`` in pieces of ``sizes`` (the rest last, with ``last=True``); the outputs joined."""
    outputs, start = [], 0
    for size in sizes:
        outputs.append(stage(signal[start : start + size]))
        start += size
    outputs.append(stage(signal[start:], last=True))
    return np.concatenate(outputs)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=3000), max_size=10))
def test_any_chunking_gives_the_whole_signals_samples(sizes: list[int]) -> None:
    whole = RNNoiseMix(DEFAULT_MIX)(SIGNAL, last=True)
    assert np.array_equal(denoise_in_pieces(RNNoiseMix(DEFAULT_MIX), SIGNAL, sizes), whole)
    assert whole.shape == SIGNAL.shape  # flushed: every input sample has its output


def test_output_lines_up_with_the_input() -> None:
    """RNNoise's two frames of lag (320 samples) are taken off: the fully suppressed signal correlates best within a
    sample of lag 0 (the resamplers' filters may shift it by a fraction of one)."""
    suppressed = RNNoiseMix(1.0)(SIGNAL, last=True)
    lags = range(-400, 401)
    correlation = [float(np.dot(suppressed[max(0, lag) : SIGNAL.size + min(0, lag)], SIGNAL[max(0, -lag) : SIGNAL.size - max(0, lag)])) for lag in lags]
    assert abs(lags[int(np.argmax(correlation))]) <= 1


def test_noise_is_taken_down_and_the_mix_keeps_the_rest() -> None:
    noise = np.random.default_rng(0).normal(0.0, 0.05, 16000).astype(np.float32)
    rms = float(np.sqrt(np.mean(noise**2)))
    fully = RNNoiseMix(1.0)(noise, last=True)
    assert float(np.sqrt(np.mean(fully**2))) < 0.05 * rms  # more than 26 dB down
    mixed = RNNoiseMix(0.3)(noise, last=True)
    assert float(np.sqrt(np.mean((mixed - 0.7 * noise) ** 2))) < 0.05 * rms  # the unsuppressed 70% is the input itself


def test_a_flushed_stage_refuses_more_audio_until_reset() -> None:
    stage = RNNoiseMix()
    first = stage(SIGNAL, last=True)
    assert stage(np.zeros(0, np.float32)).size == 0
    with pytest.raises(ValueError, match="flushed"):
        stage(SIGNAL[:100])
    stage.reset()
    assert np.array_equal(stage(SIGNAL, last=True), first)


@pytest.mark.parametrize("mix", [0.0, -0.1, 1.5])
def test_a_mix_outside_zero_to_one_is_refused(mix: float) -> None:
    with pytest.raises(ValueError, match="denoise mix must be in"):
        RNNoiseMix(mix)


def test_a_missing_library_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asr.denoise, "_library", None)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DenoiseError, match="pip install --no-deps pyrnnoise"):
        RNNoiseMix()


@pytest.mark.parametrize(("given_args", "mix"), [([], 0.0), (["--denoise"], DEFAULT_MIX), (["--denoise", "0.5"], 0.5)])
def test_the_denoise_option(given_args: list[str], mix: float) -> None:
    assert build_parser().parse_args(["transcribe", "a.wav", *given_args]).denoise == mix


@pytest.mark.parametrize("value", ["0", "1.2", "loud"])
def test_a_bad_denoise_value_is_an_argparse_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["eval", "m.jsonl", "--denoise", value])
    assert exit_info.value.code == 2
    assert "--denoise" in capsys.readouterr().err

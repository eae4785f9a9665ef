"""Audio loading, PCM conversions and streaming resampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import torchaudio
from hypothesis import given, settings
from hypothesis import strategies as st

from asr.audio import (
    AudioError,
    StreamingResampler,
    float32_bytes_to_float,
    float_to_pcm16,
    iter_audio,
    load_audio,
    pcm16_to_float,
    resampling_rate,
)
from tests.conftest import synth_signal


def dominant_frequency(samples: torch.Tensor, sample_rate: int) -> float:
    spectrum = torch.fft.rfft(samples).abs()
    return float(spectrum.argmax()) * sample_rate / samples.numel()


@pytest.mark.parametrize(
    ("fmt", "suffix", "rate", "channels"),
    [("WAV", "wav", 16000, 1), ("WAV", "wav", 8000, 2), ("FLAC", "flac", 44100, 2), ("OGG", "ogg", 48000, 1), ("FLAC", "flac", 22050, 3)],
)
def test_load_audio_gives_16k_mono_with_pitch_preserved(tmp_path: Path, fmt: str, suffix: str, rate: int, channels: int) -> None:
    seconds, tone = 1.0, 440.0
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.5 * np.sin(2 * np.pi * tone * t)
    data = np.stack([mono] * channels, axis=1).astype(np.float32)
    path = tmp_path / f"tone.{suffix}"
    soundfile.write(path, data, rate, format=fmt)

    samples = load_audio(path)

    assert samples.dtype == torch.float32 and samples.dim() == 1
    assert abs(samples.numel() - 16000 * seconds) <= 1
    assert dominant_frequency(samples, 16000) == pytest.approx(tone, abs=2.0)
    assert samples.abs().max() == pytest.approx(0.5, abs=0.05)


def test_stereo_is_downmixed_by_averaging(tmp_path: Path) -> None:
    left = synth_signal(0.5, seed=1)
    right = synth_signal(0.5, seed=2)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    assert torch.allclose(load_audio(path), torch.from_numpy((left + right) / 2), atol=1e-6)


def test_iter_audio_blocks_concatenate_to_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "long.flac"
    soundfile.write(path, synth_signal(3.3, sample_rate=44100), 44100)
    blocks = list(iter_audio(path, block_seconds=0.37))
    assert len(blocks) > 5
    whole = torchaudio.functional.resample(torch.from_numpy(soundfile.read(path, dtype="float32")[0]), 44100, 16000)
    assert torch.allclose(torch.cat(blocks), whole, atol=1e-5)


def _wav_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "good.wav"
    soundfile.write(path, synth_signal(0.5), 16000)
    return path.read_bytes()


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("empty.wav", lambda good: b"", "file is empty"),
        ("truncated.wav", lambda good: good[: len(good) // 2], "truncated WAV"),
        ("header_only.wav", lambda good: good[:44], "truncated WAV"),
        ("corrupt.wav", lambda good: bytes(range(256)) * 20, "unsupported or corrupt"),
        ("notes.txt", lambda good: b"this is not audio\n" * 50, "unsupported or corrupt"),
        ("cut.flac", None, "corrupt"),
    ],
)
def test_bad_files_raise_an_error_naming_the_file(tmp_path: Path, name: str, make, message: str) -> None:
    path = tmp_path / name
    if make is None:  # a FLAC stream cut in the middle of its frames
        soundfile.write(tmp_path / "whole.flac", synth_signal(1.0, seed=5), 16000)
        data = (tmp_path / "whole.flac").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(make(_wav_bytes(tmp_path)))
    with pytest.raises(AudioError, match=message) as caught:
        load_audio(path)
    assert str(path) in str(caught.value)


def test_missing_file_and_directory_are_named(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="file not found") as caught:
        load_audio(tmp_path / "nope.wav")
    assert "nope.wav" in str(caught.value)
    with pytest.raises(AudioError, match="is a directory"):
        load_audio(tmp_path)


def test_pcm16_round_trip_is_exact() -> None:
    raw = np.arange(-32768, 32768, 7, dtype="<i2").tobytes()
    assert float_to_pcm16(pcm16_to_float(raw)) == raw


def test_float_to_pcm16_clips_and_rounds() -> None:
    samples = torch.tensor([-2.0, -1.0, 0.0, 0.5, 1.0, 2.0])
    values = np.frombuffer(float_to_pcm16(samples), dtype="<i2").tolist()
    assert values == [-32768, -32768, 0, 16384, 32767, 32767]


def test_pcm_conversions_reject_bad_byte_counts_and_non_finite() -> None:
    with pytest.raises(AudioError, match="even number of bytes"):
        pcm16_to_float(b"\x00\x01\x02")
    with pytest.raises(AudioError, match="multiple of 4"):
        float32_bytes_to_float(b"\x00" * 6)
    with pytest.raises(AudioError, match="NaN or infinite"):
        float32_bytes_to_float(np.array([0.1, np.nan], dtype="<f4").tobytes())
    data = np.array([0.25, -0.5], dtype="<f4")
    assert float32_bytes_to_float(data.tobytes()).tolist() == [0.25, -0.5]


@settings(max_examples=30, deadline=None)
@given(
    orig_freq=st.sampled_from([8000, 11025, 16000, 22050, 32000, 44100, 48000, 8001, 44100.5, 191999]),
    chunk_sizes=st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=12),
)
def test_streaming_resampler_equals_offline_resample(orig_freq: float, chunk_sizes: list[int]) -> None:
    length = sum(chunk_sizes)
    signal = torch.from_numpy(synth_signal((length + 1) / orig_freq, sample_rate=int(orig_freq), seed=len(chunk_sizes))[:length])
    resampler = StreamingResampler(orig_freq)
    pieces, start = [], 0
    for size in chunk_sizes:
        pieces.append(resampler.resample(signal[start : start + size]))
        start += size
    pieces.append(resampler.flush())
    expected = torchaudio.functional.resample(signal, resampling_rate(orig_freq), 16000)
    streamed = torch.cat(pieces)
    assert streamed.shape == expected.shape
    assert torch.allclose(streamed, expected, atol=2e-5)


@pytest.mark.parametrize(("rate", "resampled_as"), [(44100, 44100), (11025, 11025), (8001, 8000), (16001, 16000), (191999, 192000), (44100.5, 44100), (12345, 12350)])
def test_every_rate_is_resampled_with_a_small_kernel(rate: float, resampled_as: int) -> None:
    """An 8001 Hz stream once built a 16000 x 8001 kernel (0.5 GB, 5 s); 16001 Hz took 8.5 GB."""
    resampler = StreamingResampler(rate)
    assert resampling_rate(rate) == resampler.orig_freq == resampled_as
    assert resampled_as == 16000 or resampler._kernel.numel() < 2_000_000


def test_resampler_refuses_absurd_rates() -> None:
    with pytest.raises(AudioError, match="outside"):
        StreamingResampler(100)

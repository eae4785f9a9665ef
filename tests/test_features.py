"""Streaming log-mel and frame stacking equal their whole-signal versions for any chunking."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from asr.config import FeatureConfig
from asr.features import LOG_FLOOR, FrameStacker, LogMel, StreamingLogMel, stack_frames
from tests.conftest import synth_signal

LOGMEL = LogMel(FeatureConfig())
HIGHPASSED = LogMel(FeatureConfig(highpass_hz=80.0))
DENOISED = LogMel(FeatureConfig(highpass_hz=80.0, denoise_mix=0.3))  # RNNoise's light mix, then the high-pass
SIGNAL = torch.from_numpy(synth_signal(1.5, seed=7))


def split(tensor: torch.Tensor, sizes: list[int]) -> list[torch.Tensor]:
    pieces, start = [], 0
    for size in sizes:
        pieces.append(tensor[start : start + size])
        start += size
    pieces.append(tensor[start:])
    return pieces


def test_offline_shapes_and_frame_count() -> None:
    features = LOGMEL(SIGNAL)
    assert features.shape == ((SIGNAL.numel() - 400) // 160 + 1, 80)
    assert torch.isfinite(features).all()
    assert LOGMEL(SIGNAL[:399]).shape == (0, 80)


def test_logmel_matches_torchaudio_melspectrogram() -> None:
    """Same energies as torchaudio's transform, which frames by n_fft with the window centered in it."""
    import torchaudio

    offset = (512 - 400) // 2
    reference = torchaudio.transforms.MelSpectrogram(
        sample_rate=16000, n_fft=512, win_length=400, hop_length=160, f_min=20.0, f_max=7600.0,
        n_mels=80, center=False, norm="slaney", mel_scale="slaney",
    )(SIGNAL)
    ours = LOGMEL(SIGNAL[offset:])[: reference.shape[1]]
    assert torch.allclose(ours, torch.log(reference.clamp_min(LOG_FLOOR)).T, atol=1e-3)


def test_digital_silence_sits_near_trainings_dither_level() -> None:
    """Training dithers every utterance (1e-4 RMS), so zeros must not look far quieter than that."""
    dithered = LOGMEL(torch.from_numpy(np.random.default_rng(0).normal(0.0, 1e-4, 16000)).float())
    silent = LOGMEL(torch.zeros(16000))
    assert torch.equal(silent, torch.full_like(silent, float(np.log(LOG_FLOOR))))
    assert abs(float(dithered.mean() - silent.mean())) < 1.5  # about -17.1 against -18.4; 1e-10 would give -23.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=4000), max_size=20), st.sampled_from([LOGMEL, HIGHPASSED, DENOISED]))
def test_streaming_logmel_equals_offline_for_any_chunking(chunk_sizes: list[int], logmel: LogMel) -> None:
    streaming = StreamingLogMel(logmel)
    pieces = split(SIGNAL, chunk_sizes)
    frames = [streaming.take_frames(piece.numpy(), last=index == len(pieces) - 1) for index, piece in enumerate(pieces)]
    streamed = torch.cat([logmel.frames_to_logmel(torch.from_numpy(piece_frames.copy())) for piece_frames in frames])
    offline = logmel(SIGNAL)
    assert torch.equal(streamed, offline)  # bit for bit, whatever the row counts of the products and the filters' chunks
    assert offline.shape == LOGMEL(SIGNAL).shape  # the noise suppression, flushed at the end, keeps every frame


def test_the_high_pass_removes_hum_and_keeps_speech_bands() -> None:
    seconds = torch.arange(16000) / 16000
    hum = 0.3 * torch.sin(2 * torch.pi * 50 * seconds)
    plain, highpassed = LOGMEL(SIGNAL[:16000] + hum), HIGHPASSED(SIGNAL[:16000] + hum)
    bins_hz = LOGMEL.mel_filters.argmax(0) * 16000 / LOGMEL.config.n_fft  # each mel bin's peak frequency
    low, speech = bins_hz < 70, bins_hz > 300
    assert float((plain[:, low] - highpassed[:, low]).mean()) > np.log(10)  # more than 10 dB of hum gone
    assert float((plain[:, speech] - highpassed[:, speech]).abs().mean()) < 0.05  # speech's bands kept within 0.2 dB


def test_a_reset_stream_starts_its_filter_afresh() -> None:
    streaming = StreamingLogMel(HIGHPASSED)
    assert streaming.take_frames(np.zeros(0, dtype=np.float32)).shape == (0, HIGHPASSED.config.win_length)
    streaming.take_frames(SIGNAL[:8000].numpy())
    streaming.reset()
    again = HIGHPASSED.frames_to_logmel(torch.from_numpy(streaming.take_frames(SIGNAL.numpy()).copy()))
    assert torch.equal(again, HIGHPASSED(SIGNAL))


@pytest.mark.parametrize("cutoff", [-1.0, 7600.0, 9000.0])
def test_a_high_pass_outside_the_band_is_refused(cutoff: float) -> None:
    with pytest.raises(ValueError, match="features.highpass_hz must be 0"):
        FeatureConfig(highpass_hz=cutoff)


@settings(max_examples=60, deadline=None)
@given(
    stack=st.integers(min_value=1, max_value=4),
    lookahead=st.integers(min_value=0, max_value=5),
    chunk_sizes=st.lists(st.integers(min_value=0, max_value=30), max_size=15),
)
def test_streaming_stacker_equals_offline(stack: int, lookahead: int, chunk_sizes: list[int]) -> None:
    features = torch.randn(97, 5)
    stacker = FrameStacker(stack, lookahead)
    streamed = np.concatenate([stacker.stack(piece.numpy()) for piece in split(features, chunk_sizes)])
    assert torch.equal(torch.from_numpy(streamed), stack_frames(features, stack, lookahead))


def test_stack_frames_layout() -> None:
    features = torch.arange(8.0).reshape(8, 1)
    assert stack_frames(features, 3).tolist() == [[0, 1, 2], [3, 4, 5]]
    assert stack_frames(features, 3, lookahead=2).tolist() == [[0, 1, 2, 3, 4], [3, 4, 5, 6, 7]]
    assert stack_frames(features[:4], 3, lookahead=2).shape == (0, 5)

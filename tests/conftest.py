"""Shared fixtures: small models with seeded random weights and audio the tests make themselves."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from asr.checkpoint import Checkpoint, random_checkpoint
from asr.config import ExperimentConfig, ModelConfig

TINY = ExperimentConfig(model=ModelConfig(layers=2, hidden=48, proj=24))
TINY_LOOKAHEAD = ExperimentConfig(model=ModelConfig(layers=2, hidden=32, proj=0, lookahead_frames=2))


def lively(checkpoint: Checkpoint, scale: float = 25.0) -> Checkpoint:
    """Sharpen a random model's output layer so its best token changes often (it 'says' things)."""
    with torch.no_grad():
        checkpoint.model.output.weight.mul_(scale)
    return checkpoint


@pytest.fixture(scope="session")
def tiny_checkpoint() -> Checkpoint:
    return lively(random_checkpoint(TINY, seed=3))


@pytest.fixture(scope="session")
def lookahead_checkpoint() -> Checkpoint:
    return lively(random_checkpoint(TINY_LOOKAHEAD, seed=4))


def synth_signal(seconds: float, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """A speech-like test signal: gliding harmonics with syllable-rate amplitude and some noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = 120 + 40 * np.sin(2 * math.pi * 0.7 * t + rng.uniform(0, 6))
    phase = 2 * math.pi * np.cumsum(pitch) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = 0.5 + 0.5 * np.sin(2 * math.pi * 4 * t + rng.uniform(0, 6))
    signal = 0.2 * voiced * envelope + 0.01 * rng.standard_normal(t.size)
    return signal.astype(np.float32)


@pytest.fixture
def wav_file(tmp_path: Path) -> Path:
    path = tmp_path / "speech.wav"
    soundfile.write(path, synth_signal(2.0), 16000)
    return path

"""Shared fixtures: small models with seeded random weights and audio the tests make themselves."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile

# scripts/test.sh runs one pytest-xdist worker per core, so each worker's torch, and each process a test starts, gets
# one thread (a caller's own OMP_NUM_THREADS wins). With a thread per core in every worker, OpenMP's waiting threads
# fought over the cores: the training test took 320 s instead of 8, and the suite 16 minutes. Set before torch loads.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from asr.checkpoint import Checkpoint, random_checkpoint
from asr.config import DecoderConfig, ExperimentConfig, ModelConfig
from asr.decoding import Transcript
from asr.features import LogMel
from asr.stream import StreamingRecognizer

CHARACTER_MODEL = "en-synth-v2"  # the last character model, kept for the greedy decoder's tests
TINY = ExperimentConfig(model=ModelConfig(layers=2, hidden=48, proj=24))
TINY_LOOKAHEAD = ExperimentConfig(model=ModelConfig(layers=2, hidden=32, proj=0, lookahead_frames=2))
TINY_RUNNING_CMN = ExperimentConfig(model=ModelConfig(layers=2, hidden=32, proj=0, lookahead_frames=2, running_cmn_steps=20))


def lively(checkpoint: Checkpoint) -> Checkpoint:
    """Make a random model 'say' many words: CMVN from test audio, a livelier LSTM, a sharper output.

    The recurrent weights grow less than the input weights: at 4x they make the LSTM chaotic, so
    float rounding (chunked or batched sums) grows to 0.1 in the log-probs over 12 s of audio;
    at 2x it stays below 1e-5.
    """
    features = LogMel(checkpoint.features)(torch.from_numpy(synth_signal(5.0, seed=99)))
    checkpoint.model.set_cmvn(features.mean(0), features.std(0))
    with torch.no_grad():
        for name, parameter in checkpoint.model.lstm.named_parameters():
            if name.startswith("weight"):  # biases keep the model's forget-gate initialization
                parameter.mul_(4.0 if name.startswith("weight_ih") else 2.0)
        checkpoint.model.output.weight.mul_(10.0)
        checkpoint.model.output.bias[checkpoint.tokenizer.separator_id] += 6.0
    return checkpoint


def assert_same_transcript(a: Transcript, b: Transcript, conf_tolerance: float = 1e-4) -> None:
    """Equal text, words and times; confidences equal up to float rounding."""
    assert a.text == b.text
    assert [(w.word, round(w.start, 6), round(w.end, 6)) for w in a.words] == [
        (w.word, round(w.start, 6), round(w.end, 6)) for w in b.words
    ]
    assert all(abs(x.conf - y.conf) <= conf_tolerance for x, y in zip(a.words, b.words))


@pytest.fixture(scope="session")
def default_recognizer() -> StreamingRecognizer:
    """The shipped default model on the CPU with its default decoder (the lexicon search), shared by many tests."""
    return StreamingRecognizer.from_pretrained(device="cpu")


@pytest.fixture(scope="session")
def greedy_recognizer() -> StreamingRecognizer:
    """A trained character model decoded greedily: its text depends only on each step's best token.

    Chunked and batched LSTM sums differ in their last bits from one pass, and a beam search can
    break a near-tie either way on them; the best path cannot (its margins are far wider), so
    tests that compare a streamed or served result with offline transcription word for word use it.
    """
    return StreamingRecognizer.from_pretrained(CHARACTER_MODEL, device="cpu", decoder=DecoderConfig(method="greedy"))


@pytest.fixture(scope="session")
def tiny_checkpoint() -> Checkpoint:
    return lively(random_checkpoint(TINY, seed=5))


@pytest.fixture(scope="session")
def lookahead_checkpoint() -> Checkpoint:
    return lively(random_checkpoint(TINY_LOOKAHEAD, seed=10))


@pytest.fixture(scope="session")
def running_cmn_checkpoint() -> Checkpoint:
    return lively(random_checkpoint(TINY_RUNNING_CMN, seed=10))


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

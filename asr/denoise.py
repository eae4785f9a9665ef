"""RNNoise's noise suppression, lightly mixed back with the input: an opt-in stage in front of the log-mel.

Xiph's RNNoise (a recurrent network that sets a gain per band, every 10 ms of 48 kHz audio) suppresses
noise far deeper than this project's acoustic model likes: fully suppressed speech reads worse in
every condition. A light mix, ``mix * suppressed + (1 - mix) * input`` at 0.3, took the default
model's held-out noisy speech from 55.1% to 51.5% WER and left the other conditions where they were
(models/en-phone-v36/README.md). It costs about 0.05 of a core per stream, nearly as much as the
recognizer, so it is off unless asked for (``--denoise``).

The library comes from PyPI's pyrnnoise wheel, installed without its dependencies (its Python side
converts each frame to int16 and reads files through PyAV, neither needed here); it is called through
ctypes. The stage works in fixed 10 ms blocks of the 16 kHz signal, and python-soxr's streaming
resamplers only ever see those blocks, so any chunking of the input yields the same samples as the
whole signal at once. RNNoise's two frames of delay are taken off, so the output lines up with the
input sample for sample, and ``last=True`` flushes the stage: the output is exactly as long as the input.
"""

from __future__ import annotations

import ctypes
import importlib.util
from pathlib import Path

import numpy as np

from asr.audio import SAMPLE_RATE

__all__ = ["DEFAULT_MIX", "DenoiseError", "RNNoiseMix", "denoise_whole"]

DEFAULT_MIX = 0.3  # what `--denoise` alone asks for: the mix measured best on held-out noisy speech
RNNOISE_RATE = 48000
FRAME = 480  # RNNoise's frame: 10 ms at 48 kHz
BLOCK = SAMPLE_RATE // 100  # the same 10 ms at 16 kHz
DELAY = 2 * BLOCK  # RNNoise's output lags its input by two frames (960 samples at 48 kHz)
PCM_SCALE = 32768.0  # RNNoise reads and writes float samples on the int16 scale
INSTALL_HINT = "run `bash scripts/setup.sh`, or `.venv/bin/pip install --no-deps pyrnnoise==0.4.5`"

_library: ctypes.CDLL | None = None


class DenoiseError(ValueError):
    """The RNNoise library cannot be found or loaded; the message says how to install it."""


def _load_library() -> ctypes.CDLL:
    """RNNoise's shared library from the installed pyrnnoise package (found, not imported), loaded once."""
    global _library
    if _library is None:
        spec = importlib.util.find_spec("pyrnnoise")
        if spec is None or not spec.submodule_search_locations:
            raise DenoiseError(f"--denoise needs RNNoise from PyPI's pyrnnoise wheel, which is not installed: {INSTALL_HINT}")
        path = Path(next(iter(spec.submodule_search_locations))) / "librnnoise.so"
        try:
            library = ctypes.CDLL(str(path))
        except OSError as error:
            raise DenoiseError(f"--denoise cannot load RNNoise's library {path}: {error}; {INSTALL_HINT}") from None
        library.rnnoise_create.restype = ctypes.c_void_p
        library.rnnoise_create.argtypes = [ctypes.c_void_p]
        library.rnnoise_destroy.argtypes = [ctypes.c_void_p]
        library.rnnoise_process_frame.restype = ctypes.c_float
        library.rnnoise_process_frame.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        _library = library
    return _library


class RNNoiseMix:
    """``mix`` of RNNoise's suppressed signal with the input, over a stream of 16 kHz chunks.

    Call it with each chunk and ``last=True`` with the final one (which may be empty); the outputs,
    concatenated, are the same for any chunking and as long as the input.
    """

    def __init__(self, mix: float = DEFAULT_MIX) -> None:
        self._state: int | None = None  # RNNoise's state, a C pointer
        if not 0.0 < mix <= 1.0:
            raise ValueError(f"the denoise mix must be in (0, 1], got {mix}")
        self.mix = mix
        self._library = _load_library()
        self.reset()

    def reset(self) -> None:
        """Start a new signal."""
        import soxr  # imported here: only --denoise needs it at inference (scripts/gpu's box may lack it)

        self._release()
        self._state = self._library.rnnoise_create(None)
        self._upsample = soxr.ResampleStream(SAMPLE_RATE, RNNOISE_RATE, 1, dtype="float32")
        self._downsample = soxr.ResampleStream(RNNOISE_RATE, SAMPLE_RATE, 1, dtype="float32")
        self._pending = np.zeros(0, np.float32)  # input short of a whole block
        self._pending_48k = np.zeros(0, np.float32)  # upsampled input short of a whole RNNoise frame
        self._suppressed = np.zeros(0, np.float32)  # suppressed samples waiting for their inputs
        self._originals = np.zeros(0, np.float32)  # input samples waiting for their suppressed twins
        self._delay_left = DELAY
        self._finished = False

    def __call__(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        """(N,) float32 -> the (K,) float32 output samples now complete (with ``last``: all of them)."""
        if self._finished:
            if samples.size:
                raise ValueError("the denoiser was flushed (last=True); reset it before a new signal")
            return np.zeros(0, np.float32)
        samples = np.asarray(samples, dtype=np.float32)
        self._originals = np.concatenate([self._originals, samples])
        buffer = np.concatenate([self._pending, samples])
        whole = buffer.size // BLOCK * BLOCK
        self._pending = buffer[whole:]
        pieces = [self._suppress_block(buffer[start : start + BLOCK]) for start in range(0, whole, BLOCK)]
        self._take_suppressed(pieces)
        if last:
            self._finished = True
            tail = np.zeros(BLOCK, np.float32)
            tail[: self._pending.size] = self._pending
            self._take_suppressed([self._suppress_block(tail)])
            while self._suppressed.size < self._originals.size:  # push silence through until every input has its twin
                self._take_suppressed([self._suppress_block(np.zeros(BLOCK, np.float32))])
        count = min(self._suppressed.size, self._originals.size)
        mixed = self.mix * self._suppressed[:count] + (1.0 - self.mix) * self._originals[:count]
        self._suppressed, self._originals = self._suppressed[count:], self._originals[count:]
        return mixed.astype(np.float32)

    def _suppress_block(self, block: np.ndarray) -> np.ndarray:
        """One (BLOCK,) block in -> the suppressed 16 kHz samples that came out (0 to a few blocks' worth)."""
        self._pending_48k = np.concatenate([self._pending_48k, self._upsample.resample_chunk(block)])
        out = []
        while self._pending_48k.size >= FRAME:
            frame = np.ascontiguousarray(self._pending_48k[:FRAME] * PCM_SCALE)
            self._pending_48k = self._pending_48k[FRAME:]
            suppressed = np.empty(FRAME, np.float32)
            self._library.rnnoise_process_frame(self._state, suppressed.ctypes.data, frame.ctypes.data)
            out.append(self._downsample.resample_chunk(suppressed / PCM_SCALE))
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def _take_suppressed(self, pieces: list[np.ndarray]) -> None:
        """Queue suppressed samples, dropping the first ``DELAY`` (RNNoise's lag) so they line up with the input."""
        suppressed = np.concatenate([self._suppressed, *pieces])
        dropped = min(self._delay_left, suppressed.size)
        self._delay_left -= dropped
        self._suppressed = suppressed[dropped:]

    def _release(self) -> None:
        if self._state is not None:
            self._library.rnnoise_destroy(self._state)
            self._state = None

    def __del__(self) -> None:
        self._release()


def denoise_whole(samples: np.ndarray, mix: float) -> np.ndarray:
    """A whole signal through a fresh ``RNNoiseMix(mix)``, flushed: (N,) float32 -> (N,) float32."""
    return RNNoiseMix(mix)(samples, last=True)

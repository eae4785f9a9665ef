"""Live audio sources: a microphone through sounddevice, or a file played in real time.

This is the one module that imports sounddevice (DESIGN.md's dependency rule). Both sources
push blocks of float32 mono samples from their own thread into a bounded queue, and the
consumer ``read``s them. A block that finds the queue full is dropped and counted, as are the
overflows PortAudio reports, so lost audio is always reported and never silent.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from asr.audio import AudioError, audio_info, iter_audio

try:
    import sounddevice
except OSError as error:  # the PortAudio library is missing: only file input can work
    sounddevice = None
    _SOUNDDEVICE_ERROR = str(error)

__all__ = ["CaptureError", "list_input_devices", "format_devices", "MicrophoneSource", "FileSource"]

QUEUE_SECONDS = 10.0  # audio the consumer may fall behind before blocks are dropped


class CaptureError(RuntimeError):
    """No usable input: no sound card, an unknown device, or a device that fails to open."""


def _require_sounddevice() -> Any:
    if sounddevice is None:
        raise CaptureError(f"audio capture is unavailable: the PortAudio library could not be loaded ({_SOUNDDEVICE_ERROR}); install libportaudio2")
    return sounddevice


def list_input_devices() -> list[dict[str, Any]]:
    """Every device with input channels: ``{"index", "name", "channels", "sample_rate", "default"}``."""
    sd = _require_sounddevice()
    try:
        devices = sd.query_devices()
        default_input = sd.default.device[0]
    except sd.PortAudioError as error:
        raise CaptureError(f"cannot list audio devices: {error}") from None
    return [
        {"index": i, "name": d["name"], "channels": d["max_input_channels"], "sample_rate": int(d["default_samplerate"]), "default": i == default_input}
        for i, d in enumerate(devices)
        if d["max_input_channels"] > 0
    ]


def format_devices(devices: list[dict[str, Any]]) -> str:
    if not devices:
        return "no audio input devices found"
    lines = [f"{'':2}{'index':>5}  {'rate':>6}  {'ch':>3}  name"]
    for d in devices:
        lines.append(f"{'*' if d['default'] else '':2}{d['index']:>5}  {d['sample_rate']:>6}  {d['channels']:>3}  {d['name']}")
    return "\n".join(lines) + "\n(* default input)"


class _BlockQueue:
    """Blocks from a producer thread to the consumer; full -> the block is dropped and counted.

    The end of input is a flag, not a queued item, so it is never lost to a full queue.
    """

    POLL_SECONDS = 0.05

    def __init__(self, block_seconds: float) -> None:
        self._queue: queue.Queue[np.ndarray] = queue.Queue(maxsize=max(1, round(QUEUE_SECONDS / block_seconds)))
        self._ended = threading.Event()
        self.overflows = 0  # blocks lost: dropped here or reported by the device

    def put(self, block: np.ndarray) -> None:
        try:
            self._queue.put_nowait(block)
        except queue.Full:
            self.overflows += 1

    def end(self) -> None:
        self._ended.set()

    def read(self, timeout: float | None = None) -> np.ndarray | None:
        """The next (N,) float32 block; None once the input has ended and every block was read.

        Raises queue.Empty when ``timeout`` seconds pass first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            ended = self._ended.is_set()  # checked first: blocks put before the end are already queued
            wait = 0.0 if ended else self.POLL_SECONDS
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - time.monotonic()))
            try:
                return self._queue.get(timeout=wait)
            except queue.Empty:
                if ended:
                    return None
                if deadline is not None and time.monotonic() >= deadline:
                    raise


class _QueuedSource:
    """What both sources share: blocks arrive from another thread through a ``_BlockQueue``."""

    name: str
    sample_rate: int
    _blocks: _BlockQueue

    @property
    def overflows(self) -> int:
        """Blocks of audio lost so far (the consumer fell behind, or the device overflowed)."""
        return self._blocks.overflows

    def read(self, timeout: float | None = None) -> np.ndarray | None:
        """The next (N,) float32 block; None once the input has ended. Raises queue.Empty on timeout."""
        return self._blocks.read(timeout)


class MicrophoneSource(_QueuedSource):
    """Captures mono float32 from an input device (default: the system's) at its native rate."""

    def __init__(self, device: int | str | None = None, block_seconds: float = 0.1) -> None:
        sd = _require_sounddevice()
        inputs = list_input_devices()
        if not inputs:
            raise CaptureError("no audio input device found (is there a sound card or microphone?); --input-file captions a file instead")
        try:
            info = sd.query_devices(device, kind="input")
        except (ValueError, sd.PortAudioError) as error:
            raise CaptureError(f"input device {device!r}: {error}; --list-devices shows the choices") from None
        self.name = info["name"]
        self.sample_rate = int(info["default_samplerate"])
        self._blocks = _BlockQueue(block_seconds)
        try:
            self._stream = sd.InputStream(
                device=device, channels=1, samplerate=self.sample_rate, dtype="float32",
                blocksize=int(self.sample_rate * block_seconds), callback=self._callback,
            )  # fmt: skip
        except sd.PortAudioError as error:
            raise CaptureError(f"cannot open input device {self.name!r}: {error}") from None

    def _callback(self, data: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        if status.input_overflow:
            self._blocks.overflows += 1
        self._blocks.put(data[:, 0].copy())

    def start(self) -> None:
        self._stream.start()

    def stop(self) -> None:
        """Stop capturing; ``read`` then returns what is queued, followed by None."""
        self._stream.stop()
        self._stream.close()
        self._blocks.end()


class FileSource(_QueuedSource):
    """A file played as if it were a microphone: blocks arrive in real time (or at ``speed`` x)."""

    def __init__(self, path: str | Path, block_seconds: float = 0.1, speed: float = 1.0) -> None:
        self.path = Path(path)
        self.name = str(path)
        self.sample_rate, _ = audio_info(self.path)  # AudioError naming the file if unusable
        self.error: AudioError | None = None  # set when the file turns out corrupt while playing
        self._block_seconds = block_seconds
        self._speed = speed
        self._blocks = _BlockQueue(block_seconds)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._play, name="asr-file-source", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop playing; ``read`` then returns what is queued, followed by None."""
        self._stopped.set()
        if self._thread.ident is not None:  # started
            self._thread.join()
        else:
            self._blocks.end()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the whole file has been played; False on timeout."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _play(self) -> None:
        started, played = time.monotonic(), 0.0
        try:
            for block in iter_audio(self.path, block_seconds=self._block_seconds, sample_rate=self.sample_rate):
                if self._stopped.is_set():
                    break
                played += block.numel() / self.sample_rate
                self._stopped.wait(max(0.0, started + played / self._speed - time.monotonic()))  # paced like a device
                self._blocks.put(block.numpy())
        except AudioError as error:
            self.error = error
        finally:
            self._blocks.end()

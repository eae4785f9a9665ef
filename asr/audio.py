"""Audio constants, file loading, PCM conversions and a streaming resampler.

Everything downstream works on float32 mono at ``SAMPLE_RATE``. Files are read with
soundfile (WAV, FLAC, OGG and whatever else libsndfile knows), downmixed, and resampled
with torchaudio's windowed-sinc resampler.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio

__all__ = [
    "SAMPLE_RATE",
    "AUDIO_EXTENSIONS",
    "AudioError",
    "load_audio",
    "audio_info",
    "read_block",
    "iter_audio",
    "pcm16_to_float",
    "float_to_pcm16",
    "float32_bytes_to_float",
    "StreamingResampler",
    "resampling_rate",
]

SAMPLE_RATE = 16000
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au"})
MIN_SAMPLE_RATE = 4000
MAX_SAMPLE_RATE = 192000
RATE_GRID_HZ = 50  # a rate whose exact resampler would be too large is resampled as the nearest multiple of this
MAX_RESAMPLER_PHASES = 2_000_000  # (new / g) x (orig / g), g = gcd(orig, new): the exact resampler's size


class AudioError(ValueError):
    """An audio file or buffer that cannot be used; the message names the file and the reason."""


def _open(path: Path) -> soundfile.SoundFile:
    if not path.exists():
        raise AudioError(f"{path}: file not found")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty")
    _check_wav_complete(path)
    try:
        handle = soundfile.SoundFile(str(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        reason = str(error).replace(f"Error opening {str(path)!r}: ", "")
        raise AudioError(f"{path}: unsupported or corrupt audio ({reason})") from None
    if not MIN_SAMPLE_RATE <= handle.samplerate <= MAX_SAMPLE_RATE:
        handle.close()
        raise AudioError(f"{path}: sample rate {handle.samplerate} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")
    return handle


def _check_wav_complete(path: Path) -> None:
    """Refuse a RIFF/WAVE file whose data chunk is shorter than its header declares.

    libsndfile reads such a file without complaint and returns fewer samples, which would
    silently transcribe part of a recording.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return
        offset = 12
        while offset + 8 <= size:
            handle.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
            if chunk_id == b"data":
                streaming_placeholder = chunk_size in (0, 0xFFFFFFFF)
                if not streaming_placeholder and offset + 8 + chunk_size > size:
                    missing = offset + 8 + chunk_size - size
                    raise AudioError(f"{path}: truncated WAV file ({missing} bytes of audio data missing)")
                return
            offset += 8 + chunk_size + (chunk_size & 1)


def _to_mono(block: np.ndarray) -> torch.Tensor:
    """(N, C) float32 -> (N,) by averaging channels."""
    return torch.from_numpy(np.ascontiguousarray(block.mean(axis=1, dtype=np.float32)))


def iter_audio(path: str | Path, block_seconds: float = 30.0, sample_rate: int = SAMPLE_RATE) -> Iterator[torch.Tensor]:
    """Yield a file as consecutive mono float32 blocks at ``sample_rate``, in bounded memory.

    The concatenated blocks equal ``load_audio(path)`` (the resampler is streaming-exact).
    Raises AudioError naming the file if it is missing, empty, truncated, corrupt or unsupported.
    """
    path = Path(path)
    with _open(path) as handle:
        if handle.frames == 0:
            raise AudioError(f"{path}: contains no audio samples")
        resampler = StreamingResampler(handle.samplerate, sample_rate)
        block_frames = max(1, int(block_seconds * handle.samplerate))
        try:
            for block in handle.blocks(blocksize=block_frames, dtype="float32", always_2d=True):
                yield resampler.resample(_to_mono(block))
        except (soundfile.LibsndfileError, RuntimeError) as error:
            raise AudioError(f"{path}: corrupt audio data ({error})") from None
        yield resampler.flush()


def audio_info(path: str | Path) -> tuple[int, int]:
    """(sample rate, frames) of a file; raises AudioError (naming the file) if it cannot be used."""
    path = Path(path)
    with _open(path) as handle:
        if handle.frames == 0:
            raise AudioError(f"{path}: contains no audio samples")
        return handle.samplerate, handle.frames


def read_block(path: str | Path, start: int, frames: int) -> np.ndarray:
    """Frames ``[start, start + frames)`` of a file as (N,) float32 mono at its own rate (fewer at the end).

    Opens the file for each call, so blocks of one file can be read by different processes.
    """
    path = Path(path)
    with _open(path) as handle:
        try:
            handle.seek(start)
            block = handle.read(frames, dtype="float32", always_2d=True)
        except (soundfile.LibsndfileError, RuntimeError) as error:
            raise AudioError(f"{path}: corrupt audio data ({error})") from None
    return _to_mono(block).numpy()


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Read a whole file as (N,) float32 mono at ``sample_rate``. See ``iter_audio`` for errors."""
    return torch.cat(list(iter_audio(path, sample_rate=sample_rate)))


def pcm16_to_float(data: bytes) -> torch.Tensor:
    """Little-endian signed 16-bit PCM bytes -> (N,) float32 in [-1, 1)."""
    if len(data) % 2:
        raise AudioError(f"PCM16 data must have an even number of bytes, got {len(data)}")
    return torch.from_numpy(np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0)


def float_to_pcm16(samples: torch.Tensor) -> bytes:
    """(N,) float in [-1, 1] -> little-endian 16-bit PCM bytes (clipped, rounded)."""
    scaled = torch.clamp(torch.round(samples.detach().float() * 32768.0), -32768, 32767)
    return scaled.to(torch.int16).numpy().astype("<i2").tobytes()


def float32_bytes_to_float(data: bytes) -> torch.Tensor:
    """Little-endian float32 bytes -> (N,) float32 clipped to [-1, 1], as an ADC clips; NaN or infinity is refused."""
    if len(data) % 4:
        raise AudioError(f"float32 data must be a multiple of 4 bytes, got {len(data)}")
    samples = torch.from_numpy(np.frombuffer(data, dtype="<f4").astype(np.float32))
    if not torch.isfinite(samples).all():
        raise AudioError("float32 audio contains NaN or infinite samples")
    return samples.clamp_(-1.0, 1.0)


def resampling_rate(rate: float, new_freq: int = SAMPLE_RATE) -> int:
    """The whole rate in Hz that audio said to be at ``rate`` is resampled as: ``rate`` itself when it can be.

    torchaudio's windowed-sinc kernel holds (new / g) x (orig / g + 2 width) taps for g = gcd(orig,
    new): for 8001 Hz that is 16000 x 8001 floats, half a gigabyte and seconds to build. So a rate
    that is not whole, or whose kernel would pass MAX_RESAMPLER_PHASES, is snapped to the nearest
    multiple of RATE_GRID_HZ: at most 25 Hz off (0.3% of pitch and time at 8 kHz, far below what
    changes recognition), with g >= 50 and so at most 320 x 3986 taps, even at 192 kHz.
    """
    if float(rate).is_integer():
        whole = int(rate)
        divisor = math.gcd(whole, new_freq)
        if (new_freq // divisor) * (whole // divisor) <= MAX_RESAMPLER_PHASES:
            return whole
    return max(RATE_GRID_HZ, round(rate / RATE_GRID_HZ) * RATE_GRID_HZ)


class StreamingResampler:
    """Resample a stream chunk by chunk with output identical to ``torchaudio.functional.resample``
    from ``resampling_rate(orig_freq)``.

    torchaudio's resampler (after reducing both rates by their gcd to ``o`` in, ``n`` out) computes
    output block ``j`` (``n`` samples) from input samples ``[j*o - width, j*o + width + o)``. We keep
    just that much history, emit every block whose input is complete, and on ``flush`` pad the end
    with zeros and trim to the offline length, exactly as the offline function does.
    """

    def __init__(self, orig_freq: float, new_freq: int = SAMPLE_RATE) -> None:
        if not (MIN_SAMPLE_RATE <= orig_freq <= MAX_SAMPLE_RATE):
            raise AudioError(f"sample rate {orig_freq} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")
        orig_freq = resampling_rate(orig_freq, new_freq)  # bounded cost for any rate (8001 Hz, 44100.5 Hz)
        self.orig_freq, self.new_freq = orig_freq, new_freq
        self._identity = orig_freq == new_freq
        if not self._identity:
            transform = torchaudio.transforms.Resample(orig_freq, new_freq)
            self._kernel = transform.kernel  # (n, 1, 2 * width + o)
            self._width = transform.width
            self._in_step = orig_freq // transform.gcd
            self._out_step = new_freq // transform.gcd
        self.reset()

    def reset(self) -> None:
        self._buffer = torch.zeros(0 if self._identity else self._width)
        self._samples_in = 0
        self._samples_out = 0

    def resample(self, samples: torch.Tensor) -> torch.Tensor:
        """(N,) float32 at ``orig_freq`` -> (M,) float32 at ``new_freq`` (M may be 0)."""
        samples = samples.reshape(-1).float()
        self._samples_in += samples.numel()
        if self._identity:
            self._samples_out += samples.numel()
            return samples
        self._buffer = torch.cat([self._buffer, samples])
        return self._emit_ready()

    def flush(self) -> torch.Tensor:
        """Emit the remaining output (end of stream); the resampler is then reset."""
        if self._identity:
            self.reset()
            return torch.zeros(0)
        self._buffer = torch.cat([self._buffer, torch.zeros(self._width + self._in_step)])
        tail = self._emit_ready()
        total = -(-self._out_step * self._samples_in // self._in_step)  # ceil, as torchaudio trims
        keep = total - (self._samples_out - tail.numel())
        self.reset()
        return tail[: max(keep, 0)]

    def _emit_ready(self) -> torch.Tensor:
        kernel_size = self._kernel.shape[-1]
        blocks = (self._buffer.numel() - kernel_size) // self._in_step + 1
        if blocks <= 0:
            return torch.zeros(0)
        used = (blocks - 1) * self._in_step + kernel_size
        window = self._buffer[:used].view(1, 1, -1)
        out = torch.nn.functional.conv1d(window, self._kernel, stride=self._in_step)  # (1, n, blocks)
        out = out.transpose(1, 2).reshape(-1)
        self._buffer = self._buffer[blocks * self._in_step :]
        self._samples_out += out.numel()
        return out

"""Log-mel features and frame stacking, offline and streaming, with identical results.

Shape legend: N samples, F feature frames (one per hop), M mel bins, S stacked steps, D = step width.

A frame ``i`` covers samples ``[i * hop, i * hop + win)``; there is no centering or padding,
so a frame depends only on samples already received. The streaming extractor keeps the
samples that the next frame still needs, which makes its output for any chunking equal to
the whole-signal output. Every path (offline, one stream, a batch of streams) runs the same
``LogMel.frames_to_logmel`` on a matrix of frames. A model's features may first pass the
samples through a causal high-pass (``HighPass``), whose state a stream carries across chunks,
and, when asked for, RNNoise's suppression before that (``asr.denoise.RNNoiseMix``), which a
stream flushes when its input ends.
"""

from __future__ import annotations

import numpy as np
import torch
import torchaudio

from asr.config import FeatureConfig
from asr.denoise import RNNoiseMix, denoise_whole

__all__ = ["HighPass", "LogMel", "StreamingLogMel", "stack_frames", "FrameStacker"]

# The power floor of every mel bin, about where training's dither (1e-4 RMS, about -17.1 in log)
# leaves silence: digital zeros would otherwise reach log(1e-10) = -23, far below anything the
# model heard in training, and a muted microphone would then disturb the next words.
LOG_FLOOR = 1e-8
VTLP_KNEE = 0.85  # of the Nyquist frequency: below it the spectrum is scaled, above it bent back to keep Nyquist
HIGHPASS_ORDER = 4  # 24 dB per octave: mains hum at 50 Hz is 16 dB down under an 80 Hz cutoff


def _windows(array: np.ndarray, shape: tuple[int, ...], strides: tuple[int, ...]) -> np.ndarray:
    """A read-only strided view of a C-contiguous array.

    Same as numpy's ``as_strided``, which costs ~4 us a call in Python; building the view
    directly costs ~1 us, and the engine makes two per stream per step.
    """
    array = np.ascontiguousarray(array)
    view = np.ndarray(shape, dtype=array.dtype, buffer=array, strides=strides)
    view.flags.writeable = False
    return view


class HighPass:
    """A Butterworth high-pass over a stream of samples: for any chunking, the same samples as filtering the whole signal.

    Synthesized speech has almost nothing below 80 Hz; real recordings carry mains hum, room rumble and handling
    noise there, which the log of the lowest mel bins turns into a loud, steady floor the model never heard in
    training (on Debian's real recordings, the default model reads 45.7% of words wrong without it and 37.0% with
    an 80 Hz cutoff; its card). scipy's ``sosfilt`` runs the recursion in C, carrying its state across chunks.
    """

    def __init__(self, cutoff_hz: float, sample_rate: int) -> None:
        from scipy import signal  # imported here: only a model with a high-pass needs scipy (scripts/gpu's box may lack it)

        self._sosfilt = signal.sosfilt
        self.sections = signal.butter(HIGHPASS_ORDER, cutoff_hz, "highpass", fs=sample_rate, output="sos")  # (S, 6)
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((self.sections.shape[0], 2))

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """(N,) samples -> (N,) float32 filtered samples, continuing from the samples given before."""
        if not samples.size:  # sosfilt refuses an empty signal with a state
            return samples.astype(np.float32)
        filtered, self._state = self._sosfilt(self.sections, samples.astype(np.float64), zi=self._state)
        return filtered.astype(np.float32)


def _highpass_of(config: FeatureConfig) -> HighPass | None:
    """The high-pass ``config`` asks for, in its initial state; None when it asks for none."""
    return HighPass(config.highpass_hz, config.sample_rate) if config.highpass_hz else None


def _denoiser_of(config: FeatureConfig) -> RNNoiseMix | None:
    """The noise suppression ``config`` asks for, in its initial state; None when it asks for none."""
    return RNNoiseMix(config.denoise_mix) if config.denoise_mix else None


class LogMel:
    """Log-mel filterbank energies: power spectrum of a Hann-windowed frame, mel-warped, log."""

    def __init__(self, config: FeatureConfig = FeatureConfig()) -> None:
        self.config = config
        self.window = torch.hann_window(config.win_length, periodic=True)
        self.mel_filters = torchaudio.functional.melscale_fbanks(
            n_freqs=config.n_fft // 2 + 1,
            f_min=config.f_min,
            f_max=config.f_max,
            n_mels=config.n_mels,
            sample_rate=config.sample_rate,
            norm="slaney",
            mel_scale="slaney",
        )  # (n_fft // 2 + 1, M)
        self._warped: dict[float, torch.Tensor] = {}

    def num_frames(self, num_samples: int) -> int:
        """How many whole frames ``num_samples`` samples hold."""
        c = self.config
        return 0 if num_samples < c.win_length else (num_samples - c.win_length) // c.hop_length + 1

    def frame(self, samples: torch.Tensor) -> torch.Tensor:
        """(N,) -> (F, win_length) strided view of every whole frame."""
        c = self.config
        if samples.numel() < c.win_length:
            return samples.new_zeros(0, c.win_length)
        return samples.unfold(0, c.win_length, c.hop_length)

    def frames_to_logmel(self, frames: torch.Tensor, filters: torch.Tensor | None = None) -> torch.Tensor:
        """(F, win_length) -> (F, M) log-mel energies (through ``filters`` (n_fft // 2 + 1, M) when given)."""
        if frames.shape[0] == 0:  # MKL's FFT refuses an empty batch
            return frames.new_zeros(0, self.config.n_mels)
        spectrum = torch.fft.rfft(frames * self.window, n=self.config.n_fft)  # (F, n_fft // 2 + 1)
        power = spectrum.real.square() + spectrum.imag.square()
        mel_filters = self.mel_filters if filters is None else filters
        # One frame per product: BLAS may round an F-row product differently for different F (MKL does on AMD EPYC),
        # and a frame's features must not depend on how many frames arrive with it, or an int8 model's streamed output
        # would drift from its offline output. About 5 ms per 10 s of audio on one core.
        mel = torch.stack([frame @ mel_filters for frame in power])  # (F, M)
        return torch.log(torch.clamp(mel, min=LOG_FLOOR))

    def __call__(self, samples: torch.Tensor, warp: float = 1.0) -> torch.Tensor:
        """(N,) float32 at 16 kHz -> (F, M) for the whole signal; ``warp`` != 1 is vocal tract length perturbation."""
        if warp != 1.0 and warp not in self._warped:
            self._warped[warp] = self.warped_filters(warp)
        if self.config.denoise_mix:
            samples = torch.from_numpy(denoise_whole(samples.detach().cpu().numpy(), self.config.denoise_mix))
        highpass = _highpass_of(self.config)
        if highpass is not None:
            samples = torch.from_numpy(highpass(samples.detach().cpu().numpy()))
        return self.frames_to_logmel(self.frame(samples.float()), self._warped.get(warp))

    def warped_filters(self, warp: float) -> torch.Tensor:
        """Mel filters that see the spectrum with every frequency below the knee scaled by ``warp`` (VTLP).

        Jaitly and Hinton's vocal tract length perturbation: 1.2 moves formants (and harmonics) up
        by 20%, as a shorter vocal tract would. The warp is piecewise linear, so Nyquist stays put.

        Returns:
            (n_fft // 2 + 1, M) filters to pass to ``frames_to_logmel``.
        """
        if not 0.5 <= warp <= 2.0:
            raise ValueError(f"warp must be in [0.5, 2], got {warp}")
        bins = self.config.n_fft // 2 + 1
        nyquist = self.config.sample_rate / 2
        frequencies = torch.linspace(0, nyquist, bins, dtype=torch.float64)
        knee = VTLP_KNEE * nyquist * min(1.0, warp)
        source = torch.where(
            frequencies <= knee,
            frequencies / warp,
            knee / warp + (frequencies - knee) * (nyquist - knee / warp) / (nyquist - knee),
        )  # the frequency each output bin takes its power from
        position = (source / nyquist * (bins - 1)).clamp(0, bins - 1)
        low = position.floor().long().clamp(max=bins - 2)
        upper_weight = position - low
        interpolate = torch.zeros(bins, bins, dtype=torch.float64)  # (source bin, output bin)
        outputs = torch.arange(bins)
        interpolate[low, outputs] = 1 - upper_weight
        interpolate[low + 1, outputs] += upper_weight
        return (interpolate @ self.mel_filters.double()).float()


class StreamingLogMel:
    """Log-mel over a stream of chunks, equal to ``LogMel`` on the concatenated signal.

    ``take_frames`` and ``accept`` split into two steps so that a batch of streams can
    compute all their frames in one ``frames_to_logmel`` call. The per-stream buffer is a
    numpy array: the engine touches it once per stream per step, and numpy's small-array
    operations cost about a fifth of torch's (bench/stream_rtf.py, 64 streams).
    """

    def __init__(self, logmel: LogMel) -> None:
        self.logmel = logmel
        self._denoiser = _denoiser_of(logmel.config)
        self._highpass = _highpass_of(logmel.config)
        self.reset()

    def reset(self) -> None:
        self._pending = np.zeros(0, dtype=np.float32)
        if self._denoiser is not None:
            self._denoiser.reset()
        if self._highpass is not None:
            self._highpass.reset()

    def take_frames(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        """Append (N,) float32 samples; return a read-only (F, win_length) view of the newly
        complete frames and keep the samples that later frames still need. ``last``: the
        signal ends with these samples (the noise suppression, if any, gives out its tail)."""
        c = self.logmel.config
        if self._denoiser is not None:
            samples = self._denoiser(samples, last=last)
        if self._highpass is not None:
            samples = self._highpass(samples)
        buffer = np.concatenate([self._pending, samples])
        count = self.logmel.num_frames(buffer.size)
        self._pending = buffer[count * c.hop_length :]
        item = buffer.itemsize
        return _windows(buffer, (count, c.win_length), (c.hop_length * item, item))


def _stack(features: np.ndarray, stack: int, lookahead: int = 0) -> np.ndarray:
    """(F, M) -> (S, (stack + lookahead) * M), in numpy: a strided view, no copy.

    Step ``t`` concatenates frames ``[t * stack, t * stack + stack + lookahead)``; trailing frames
    that do not fill a whole step are left out (the streaming stacker keeps them for later).
    """
    width = stack + lookahead
    num_frames, num_mels = features.shape
    count = 0 if num_frames < width else (num_frames - width) // stack + 1
    item = features.itemsize
    windows = _windows(features, (count, width, num_mels), (stack * num_mels * item, num_mels * item, item))
    return windows.reshape(count, width * num_mels)


def stack_frames(features: torch.Tensor, stack: int, lookahead: int = 0) -> torch.Tensor:
    """(F, M) -> (S, (stack + lookahead) * M) model steps of a whole CPU tensor.

    Step ``t`` concatenates frames ``[t * stack, t * stack + stack + lookahead)``; trailing frames
    that do not fill a whole step are left out (``FrameStacker`` keeps them for later).
    """
    return torch.from_numpy(_stack(features.contiguous().numpy(), stack, lookahead).copy())


class FrameStacker:
    """Streaming ``stack_frames``: keeps the frames the next step still needs."""

    def __init__(self, stack: int, lookahead: int = 0) -> None:
        self.stack_size, self.lookahead = stack, lookahead
        self._pending = np.zeros((0, 0), dtype=np.float32)

    def stack(self, features: np.ndarray) -> np.ndarray:
        """(F, M) -> (S, (stack + lookahead) * M) steps completed by these frames."""
        if len(self._pending):
            features = np.concatenate([self._pending, features])
        steps = _stack(features, self.stack_size, self.lookahead)
        self._pending = features[len(steps) * self.stack_size :]
        return steps

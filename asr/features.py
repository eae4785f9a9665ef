"""Log-mel features and frame stacking, offline and streaming, with identical results.

Shape legend: N samples, F feature frames (one per hop), M mel bins, S stacked steps, D = step width.

A frame ``i`` covers samples ``[i * hop, i * hop + win)``; there is no centering or padding,
so a frame depends only on samples already received. The streaming extractor keeps the
samples that the next frame still needs, which makes its output for any chunking equal to
the whole-signal output. Every path (offline, one stream, a batch of streams) runs the same
``LogMel.frames_to_logmel`` on a matrix of frames.
"""

from __future__ import annotations

import torch
import torchaudio

from asr.config import FeatureConfig

__all__ = ["LogMel", "StreamingLogMel", "stack_frames", "FrameStacker"]

LOG_FLOOR = 1e-10


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

    def frames_to_logmel(self, frames: torch.Tensor) -> torch.Tensor:
        """(F, win_length) -> (F, M) log-mel energies."""
        if frames.shape[0] == 0:  # MKL's FFT refuses an empty batch
            return frames.new_zeros(0, self.config.n_mels)
        spectrum = torch.fft.rfft(frames * self.window, n=self.config.n_fft)  # (F, n_fft // 2 + 1)
        power = spectrum.real.square() + spectrum.imag.square()
        return torch.log(torch.clamp(power @ self.mel_filters, min=LOG_FLOOR))

    def __call__(self, samples: torch.Tensor) -> torch.Tensor:
        """(N,) float32 at 16 kHz -> (F, M) for the whole signal."""
        return self.frames_to_logmel(self.frame(samples.float()))


class StreamingLogMel:
    """Log-mel over a stream of chunks, equal to ``LogMel`` on the concatenated signal.

    ``take_frames`` and ``accept`` split into two steps so that a batch of streams can
    compute all their frames in one ``frames_to_logmel`` call.
    """

    def __init__(self, logmel: LogMel) -> None:
        self.logmel = logmel
        self.reset()

    def reset(self) -> None:
        self._pending = torch.zeros(0)

    def take_frames(self, samples: torch.Tensor) -> torch.Tensor:
        """Append (N,) samples; return (F, win_length) newly complete frames, keep the rest."""
        c = self.logmel.config
        self._pending = torch.cat([self._pending, samples.reshape(-1).float()])
        count = self.logmel.num_frames(self._pending.numel())
        frames = self.logmel.frame(self._pending)
        self._pending = self._pending[count * c.hop_length :].clone()
        return frames.clone()

    def accept(self, samples: torch.Tensor) -> torch.Tensor:
        """(N,) -> (F, M) log-mel frames that ``samples`` completed."""
        return self.logmel.frames_to_logmel(self.take_frames(samples))


def stack_frames(features: torch.Tensor, stack: int, lookahead: int = 0) -> torch.Tensor:
    """(F, M) -> (S, (stack + lookahead) * M).

    Step ``t`` concatenates frames ``[t * stack, t * stack + stack + lookahead)``; trailing frames
    that do not fill a whole step are left out (the streaming stacker keeps them for later).
    """
    width = stack + lookahead
    num_frames, num_mels = features.shape
    if num_frames < width:
        return features.new_zeros(0, width * num_mels)
    steps = features.unfold(0, width, stack)  # (S, M, width)
    return steps.transpose(1, 2).reshape(steps.shape[0], width * num_mels)


class FrameStacker:
    """Streaming ``stack_frames``: keeps the frames the next step still needs."""

    def __init__(self, stack: int, lookahead: int = 0) -> None:
        self.stack, self.lookahead = stack, lookahead
        self.reset()

    def reset(self) -> None:
        self._pending: torch.Tensor | None = None

    def accept(self, features: torch.Tensor) -> torch.Tensor:
        """(F, M) -> (S, (stack + lookahead) * M) steps completed by these frames."""
        if self._pending is not None:
            features = torch.cat([self._pending, features])
        steps = stack_frames(features, self.stack, self.lookahead)
        self._pending = features[steps.shape[0] * self.stack :]
        return steps

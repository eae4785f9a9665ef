"""On-the-fly training augmentation: waveform effects, an ``Augmenter`` that chains them, SpecAugment.

Waves are float32 mono tensors of shape (N,) at ``SAMPLE_RATE``. Every random choice comes from a
``numpy.random.Generator`` the caller passes in, so one seed always gives bit-identical output.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import soxr
import torch
import torchaudio.functional as AF

from asr.audio import AUDIO_EXTENSIONS, SAMPLE_RATE, load_audio
from asr.config import AugmentConfig
from asr.data.rooms import room_impulse_response
from asr.denoise import denoise_whole

__all__ = [
    "speed_perturb",
    "pitch_shift",
    "colored_noise",
    "babble",
    "music",
    "load_recordings",
    "add_noise_at_snr",
    "microphone_eq",
    "recording_band",
    "denoise",
    "dither",
    "reverberate",
    "telephone",
    "gsm_round_trip",
    "apply_gain",
    "spec_augment",
    "Augmenter",
]

NOISE_FLOOR_HZ = 20.0  # FeatureConfig.f_min: noise power below it is never seen by the features
NOISE_EXPONENTS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power spectrum ~ 1 / f**exponent
DIRECT_PEAK_SPREAD = 8  # samples after the onset where the direct path's own peak lies
EQ_BANDS_HZ = (80.0, 7000.0)  # where a microphone's resonances and dips are drawn
LOW_SHELF_CORNER_HZ = (50.0, 200.0)  # where a recording's rumble, proximity boost or high-pass cut ends
LOW_SHELF_SLOPE_OCTAVES = 0.3  # the shelf's transition: from 90% of its gain to 10% over 1.3 octaves
LOWPASS_SLOPE_OCTAVES = 0.04  # a codec's or converter's steep edge: from 5% to 95% of the stop in 1/4 octave
LOWPASS_STOP_DB = -60.0
MAX_PITCH_SEMITONES = 12.0
SPEED_FACTOR_RANGE = (0.1, 10.0)
STRETCH_N_FFT, STRETCH_HOP = 512, 128
TELEPHONE_RATE, TELEPHONE_BAND = 8000, (300.0, 3400.0)
BUTTERWORTH6_Q = (0.5176, 0.7071, 1.9319)  # three biquads = one 6th-order Butterworth response
# torchaudio's biquads clamp their output to [-1, 1]. Every partial product of the band-pass cascade
# has an impulse response with L1 norm below 3.4 (measured), so a peak of 1/4 can never reach it.
TELEPHONE_HEADROOM = 4.0


def _check_wave(wave: torch.Tensor, name: str = "wave") -> torch.Tensor:
    """Validate a mono waveform and return it as float32."""
    if not isinstance(wave, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(wave).__name__}")
    if wave.dim() != 1:
        raise ValueError(f"{name} must be 1-D (N,), got shape {tuple(wave.shape)}")
    if wave.numel() == 0:
        raise ValueError(f"{name} is empty")
    if not wave.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {wave.dtype}")
    return wave.to(torch.float32)


def _check_finite(value: float, name: str) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


def _rms(wave: torch.Tensor) -> float:
    return wave.double().square().mean().sqrt().item()


def _resample_by(wave: torch.Tensor, factor: float) -> torch.Tensor:
    """Play ``wave`` ``factor`` times faster: (N,) -> (~N / factor,); pitch scales by ``factor``.

    soxr takes any ratio. torchaudio builds a sinc kernel per reduced ratio, so a random factor
    costs a new kernel every call: on a 4 s clip at 0.9473, 21.6 ms against soxr's 2.2 ms (measured).
    """
    if factor == 1:
        return wave.clone()
    return torch.from_numpy(soxr.resample(wave.contiguous().numpy(), SAMPLE_RATE, SAMPLE_RATE / factor))


def _fft_size(num_samples: int) -> int:
    """The power of two at or above ``num_samples``: an FFT of a prime-heavy length is ~4x slower (measured)."""
    return 1 << (num_samples - 1).bit_length()


def speed_perturb(wave: torch.Tensor, factor: float) -> torch.Tensor:
    """Change tempo and pitch together by resampling, as Kaldi's speed perturbation does.

    Args:
        wave: (N,) waveform.
        factor: 1.1 is 10% faster and higher; must lie in ``SPEED_FACTOR_RANGE``.

    Returns:
        (~N / factor,) waveform.
    """
    wave = _check_wave(wave)
    factor = _check_finite(factor, "speed factor")
    if factor <= 0:
        raise ValueError(f"speed factor must be positive, got {factor}")
    if not SPEED_FACTOR_RANGE[0] <= factor <= SPEED_FACTOR_RANGE[1]:
        raise ValueError(f"speed factor must be in {list(SPEED_FACTOR_RANGE)}, got {factor}")
    return _resample_by(wave, factor)


def _time_stretch(wave: torch.Tensor, stretch: float, length: int) -> torch.Tensor:
    """Phase-vocoder time stretch keeping pitch: (N,) -> (length,), ``length`` ~ N * ``stretch``."""
    window = torch.hann_window(STRETCH_N_FFT)
    # constant padding, unlike the default reflection, works for waves shorter than half a frame
    spec = torch.stft(wave, STRETCH_N_FFT, STRETCH_HOP, window=window, pad_mode="constant", return_complex=True)
    phase_advance = torch.linspace(0, math.pi * STRETCH_HOP, spec.shape[0])[:, None]
    stretched = AF.phase_vocoder(spec, 1.0 / stretch, phase_advance)
    return torch.istft(stretched, STRETCH_N_FFT, STRETCH_HOP, window=window, length=length)


def pitch_shift(wave: torch.Tensor, semitones: float) -> torch.Tensor:
    """Shift pitch by ``semitones`` keeping the duration: resample, then time-stretch back.

    torchaudio.functional.pitch_shift does the same but takes whole semitones only and resamples by
    an unreduced ratio (17959/16000 for +2): 8.5 s per 3 s clip, measured. This takes ~6 ms.

    Args:
        wave: (N,) waveform.
        semitones: shift in [-12, 12]; fractions allowed.

    Returns:
        (N,) waveform.
    """
    wave = _check_wave(wave)
    semitones = _check_finite(semitones, "semitones")
    if abs(semitones) > MAX_PITCH_SEMITONES:
        raise ValueError(f"semitones must be in [-{MAX_PITCH_SEMITONES:g}, {MAX_PITCH_SEMITONES:g}], got {semitones}")
    if semitones == 0:
        return wave.clone()
    ratio = 2.0 ** (semitones / 12.0)
    return _time_stretch(_resample_by(wave, ratio), ratio, wave.numel())


def _unit_rms(wave: torch.Tensor) -> torch.Tensor:
    return (wave / _rms(wave)).to(torch.float32)


def colored_noise(kind: str, num_samples: int, rng: np.random.Generator) -> torch.Tensor:
    """White, pink (1/f power) or brown (1/f^2 power) noise with unit RMS: () -> (num_samples,).

    White Gaussian noise is shaped in the frequency domain. Below ``NOISE_FLOOR_HZ`` the spectrum
    stays flat, or most of a long brown clip's power would sit in sub-audible rumble.
    """
    if kind not in NOISE_EXPONENTS:
        raise ValueError(f"unknown noise kind {kind!r}; choose from {sorted(NOISE_EXPONENTS)}")
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    size = _fft_size(num_samples)  # shaped at a power of two, then cut: a stretch of pink noise is pink noise
    spectrum = torch.fft.rfft(torch.from_numpy(rng.standard_normal(size)))
    freqs = torch.fft.rfftfreq(size, d=1.0 / SAMPLE_RATE).clamp(min=NOISE_FLOOR_HZ)
    spectrum = spectrum * freqs.pow(-NOISE_EXPONENTS[kind] / 2)  # amplitude is the square root of power
    noise = torch.fft.irfft(spectrum, n=size)[:num_samples]
    if num_samples > 1:  # zero mean; a single sample has nothing but DC, so it keeps it
        noise = noise - noise.mean()
    return _unit_rms(noise)


def babble(
    pool: Sequence[torch.Tensor],
    num_samples: int,
    rng: np.random.Generator,
    talkers: tuple[int, int] = (3, 6),
) -> torch.Tensor:
    """Crowd noise: the sum of several utterances from ``pool``, unit RMS: () -> (num_samples,).

    The number of talkers is drawn from ``talkers`` (inclusive). Each talker is a random
    utterance, read from a random offset and looped to length, scaled to unit RMS so that no
    single loud recording dominates.
    """
    if len(pool) == 0:
        raise ValueError("babble needs a non-empty pool of utterances")
    low, high = talkers
    if not 1 <= low <= high:
        raise ValueError(f"talkers must be (low, high) with 1 <= low <= high, got {talkers}")
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    mix = torch.zeros(num_samples, dtype=torch.float64)
    for _ in range(int(rng.integers(low, high + 1))):
        mix += _excerpt(pool, num_samples, rng, "babble pool")
    if not mix.any():
        raise ValueError("babble segments drawn from the pool are all silent")
    return _unit_rms(mix)


def music(pool: Sequence[torch.Tensor], num_samples: int, rng: np.random.Generator) -> torch.Tensor:
    """Recorded music behind the talker: a random stretch of one track of ``pool``, looped to
    length, unit RMS: () -> (num_samples,)."""
    if len(pool) == 0:
        raise ValueError("music needs a non-empty pool of recordings")
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    excerpt = _excerpt(pool, num_samples, rng, "music pool")
    if not excerpt.any():
        raise ValueError("the music drawn from the pool is silent")
    return _unit_rms(excerpt)


def _excerpt(pool: Sequence[torch.Tensor], num_samples: int, rng: np.random.Generator, what: str) -> torch.Tensor:
    """A random recording of ``pool`` read from a random offset, looped to ``num_samples``, scaled
    by its whole recording's RMS (so no loud recording dominates): (num_samples,) float64."""
    index = int(rng.integers(len(pool)))
    recording = _check_wave(pool[index], f"{what}[{index}]").double()
    if not recording.any():
        raise ValueError(f"{what}[{index}] is silent")
    positions = (int(rng.integers(recording.numel())) + torch.arange(num_samples)) % recording.numel()
    return recording[positions] / _rms(recording)


def _checked_pool(waves: Sequence[torch.Tensor], name: str) -> tuple[torch.Tensor, ...]:
    """A noise pool as given, each wave checked; ValueError names a bad or silent one."""
    pool = tuple(_check_wave(wave, f"{name}[{i}]") for i, wave in enumerate(waves))
    for i, wave in enumerate(pool):
        if not wave.any():
            raise ValueError(f"{name}[{i}] is silent")
    return pool


def load_recordings(folder: str | Path) -> list[torch.Tensor]:
    """Every audio file directly in ``folder``, by name, at 16 kHz mono: [(N_i,)]. ValueError names
    the folder when it holds none (e.g. Debian's asterisk-moh-opsound-wav is not installed)."""
    folder = Path(folder)
    files = sorted(path for path in folder.glob("*") if path.suffix.lower() in AUDIO_EXTENSIONS) if folder.is_dir() else []
    if not files:
        raise ValueError(f"{folder}: no audio recordings found (the music noise plays them; install Debian's 'asterisk-moh-opsound-wav')")
    return [load_audio(path) for path in files]


def add_noise_at_snr(wave: torch.Tensor, noise: torch.Tensor, snr_db: float) -> torch.Tensor:
    """Add ``noise`` scaled so that the speech-to-noise power ratio is exactly ``snr_db``.

    Args:
        wave: (N,) speech; if silent, it comes back unchanged (no level to set the noise by).
        noise: (N,) noise, not silent.
        snr_db: target ratio in dB.

    Returns:
        (N,) mixture.
    """
    wave = _check_wave(wave)
    noise = _check_wave(noise, "noise")
    snr_db = _check_finite(snr_db, "snr_db")
    if noise.shape != wave.shape:
        raise ValueError(f"noise shape {tuple(noise.shape)} must equal wave shape {tuple(wave.shape)}")
    if not noise.any():
        raise ValueError("noise is silent; cannot scale it to an SNR")
    if not wave.any():
        return wave.clone()
    return AF.add_noise(wave[None], noise[None], torch.tensor([snr_db]))[0]


def reverberate(wave: torch.Tensor, rir: torch.Tensor) -> torch.Tensor:
    """Convolve with a room impulse response, keeping length, alignment and RMS level.

    The output is cut so that the RIR's direct path maps each input sample onto itself, so
    reverberation adds no delay to labels' timing. The direct path is the first peak of at least
    half the largest: a simulated room spreads it over a few samples (a fractional delay), so a
    reflection that lands on a whole sample can be the largest sample.

    Args:
        wave: (N,) dry waveform.
        rir: (L,) impulse response.

    Returns:
        (N,) reverberant waveform with the RMS of ``wave``.
    """
    wave = _check_wave(wave)
    rir = _check_wave(rir, "rir")
    magnitude = rir.abs()
    onset = int(torch.nonzero(magnitude >= magnitude.max() / 2)[0])
    direct = onset + int(magnitude[onset : onset + DIRECT_PEAK_SPREAD].argmax())
    size = _fft_size(wave.numel() + rir.numel() - 1)  # torchaudio's fftconvolve takes the exact, often slow, length
    wet = torch.fft.irfft(torch.fft.rfft(wave, n=size) * torch.fft.rfft(rir, n=size), n=size)[direct : direct + wave.numel()]
    wet_rms = _rms(wet)
    if wet_rms == 0:
        return wet
    return (wet * (_rms(wave) / wet_rms)).to(torch.float32)


def telephone(wave: torch.Tensor, rng: np.random.Generator | None = None) -> torch.Tensor:
    """Simulate a narrow-band phone line: 8 kHz, 300-3400 Hz, and a codec: G.711 mu-law or GSM 06.10.

    Without ``rng`` the effect is deterministic and uses no codec; with one, a third of the calls
    get mu-law companding, a third the GSM full-rate codec of mobile phones (through sox), and a
    third neither. The band-pass comes after the codec, as the receiver's filter does, so the
    coding noise is band-limited too.

    Args:
        wave: (N,) waveform at ``SAMPLE_RATE``.
        rng: decides the codec.

    Returns:
        (N,) waveform at ``SAMPLE_RATE``.
    """
    wave = _check_wave(wave)
    narrow = AF.resample(wave, SAMPLE_RATE, TELEPHONE_RATE)
    codec = None if rng is None else ("mu-law", "gsm", None)[int(rng.integers(3))]
    if codec == "mu-law":
        narrow = AF.mu_law_decoding(AF.mu_law_encoding(narrow.clamp(-1, 1), 256), 256)
    elif codec == "gsm":
        narrow = gsm_round_trip(narrow)
    peak = narrow.abs().max().item()
    if peak == 0:
        return torch.zeros_like(wave)
    narrow = narrow / (peak * TELEPHONE_HEADROOM)
    for q in BUTTERWORTH6_Q:
        narrow = AF.highpass_biquad(narrow, TELEPHONE_RATE, TELEPHONE_BAND[0], q)
        narrow = AF.lowpass_biquad(narrow, TELEPHONE_RATE, TELEPHONE_BAND[1], q)
    wide = AF.resample(narrow * (peak * TELEPHONE_HEADROOM), TELEPHONE_RATE, SAMPLE_RATE)
    return wide[: wave.numel()]


def gsm_round_trip(narrow: torch.Tensor) -> torch.Tensor:
    """(N,) audio at 8 kHz through the GSM 06.10 full-rate codec and back (sox); (N,) again.

    torchaudio no longer carries codecs, and sox, which the project installs anyway, has GSM built in.
    ``-D`` turns off sox's automatic dither, which would make the result differ from run to run.
    """
    raw = ["-t", "f32", "-r", str(TELEPHONE_RATE), "-c", "1"]
    try:
        coded = subprocess.run(["sox", "-D", *raw, "-", "-t", "gsm", "-"], input=narrow.clamp(-1, 1).numpy().tobytes(), capture_output=True, check=True).stdout
        decoded = subprocess.run(["sox", "-D", "-t", "gsm", "-r", str(TELEPHONE_RATE), "-", *raw, "-"], input=coded, capture_output=True, check=True).stdout
    except FileNotFoundError:
        raise ValueError("the GSM codec needs sox; install Debian's 'sox'") from None
    out = torch.from_numpy(np.frombuffer(decoded, dtype=np.float32).copy())
    return torch.nn.functional.pad(out, (0, max(0, narrow.numel() - out.numel())))[: narrow.numel()]  # GSM codes 160-sample frames


def _through_gain_curve(wave: torch.Tensor, gain_db_at: Callable[[torch.Tensor], torch.Tensor], floor_hz: float) -> torch.Tensor:
    """``wave`` through a zero-phase filter applied in one FFT, its RMS level kept: (N,) -> (N,).

    ``gain_db_at`` maps each FFT bin's log2 frequency (bins below ``floor_hz`` read as ``floor_hz``) to
    its gain in dB; it is not called for a silent wave, which comes back as a copy.
    """
    level = _rms(wave)
    if level == 0:
        return wave.clone()
    size = _fft_size(wave.numel())
    spectrum = torch.fft.rfft(wave, n=size)
    octaves = torch.log2(torch.fft.rfftfreq(size, d=1.0 / SAMPLE_RATE).clamp(min=floor_hz))
    shaped = torch.fft.irfft(spectrum * 10.0 ** (gain_db_at(octaves) / 20.0), n=size)[: wave.numel()]
    return (shaped * (level / _rms(shaped))).to(torch.float32)


def microphone_eq(wave: torch.Tensor, rng: np.random.Generator, max_gain_db: float) -> torch.Tensor:
    """A random microphone and preamp response: 2-4 resonances or dips of up to ``max_gain_db`` each,
    bell-shaped on a log-frequency axis, applied in the frequency domain; the RMS level is kept.

    torchaudio's biquads run ~0.1 s per filter on a 2 s clip here; one FFT costs ~1 ms. (N,) -> (N,).
    """

    def resonances(octaves: torch.Tensor) -> torch.Tensor:
        gain_db = torch.zeros_like(octaves)
        for _ in range(int(rng.integers(2, 5))):
            centre, width = rng.uniform(*np.log2(EQ_BANDS_HZ)), rng.uniform(0.3, 1.5)  # in octaves
            gain_db += rng.uniform(-max_gain_db, max_gain_db) * torch.exp(-0.5 * ((octaves - centre) / width) ** 2)
        return gain_db

    return _through_gain_curve(_check_wave(wave), resonances, floor_hz=EQ_BANDS_HZ[0] / 4)


def recording_band(
    wave: torch.Tensor,
    rng: np.random.Generator,
    low_shelf_db: tuple[float, float] | None = None,
    lowpass_hz: tuple[float, float] | None = None,
) -> torch.Tensor:
    """A recording chain's band edges, drawn at random; the RMS level is kept. (N,) -> (N,).

    ``low_shelf_db``: a shelf below a corner drawn from ``LOW_SHELF_CORNER_HZ``, with a gain drawn from
    this range: a boost is rumble, hum or a close microphone's proximity effect, a cut a high-pass
    filter. ``lowpass_hz``: a steep low-pass at a cutoff drawn from this range, as a lossy codec or a
    cheap converter leaves (LibriVox's 64 kb/s MP3s stop near 7 kHz). None leaves that edge alone.
    Real recordings vary most at these two edges, where the synthesizers' output is all alike.
    """
    wave = _check_wave(wave)
    if low_shelf_db is None and lowpass_hz is None:
        return wave.clone()

    def edges(octaves: torch.Tensor) -> torch.Tensor:
        gain_db = torch.zeros_like(octaves)
        if low_shelf_db is not None:
            corner, gain = rng.uniform(*np.log2(LOW_SHELF_CORNER_HZ)), rng.uniform(*low_shelf_db)
            gain_db += gain * torch.sigmoid((corner - octaves) / LOW_SHELF_SLOPE_OCTAVES)
        if lowpass_hz is not None:
            cutoff = math.log2(rng.uniform(*lowpass_hz))
            gain_db += LOWPASS_STOP_DB * torch.sigmoid((octaves - cutoff) / LOWPASS_SLOPE_OCTAVES)
        return gain_db

    return _through_gain_curve(wave, edges, floor_hz=1.0)


def dither(wave: torch.Tensor, rms: float, rng: np.random.Generator) -> torch.Tensor:
    """Add white noise of ``rms`` (full scale 1), as a real converter's noise floor: (N,) -> (N,)."""
    wave = _check_wave(wave)
    return wave + torch.from_numpy(rng.standard_normal(wave.numel()).astype(np.float32)) * rms


def denoise(wave: torch.Tensor, mix: float) -> torch.Tensor:
    """RNNoise's suppression mixed with the input at ``mix``, as `--denoise` reads a whole signal: (N,) -> (N,)."""
    wave = _check_wave(wave)
    return torch.from_numpy(denoise_whole(wave.numpy(), mix))


def apply_gain(wave: torch.Tensor, gain_db: float) -> torch.Tensor:
    """Scale by ``gain_db`` and clip to [-1, 1], as a recorder's converter would: (N,) -> (N,)."""
    wave = _check_wave(wave)
    gain_db = _check_finite(gain_db, "gain_db")
    return (wave * 10.0 ** (gain_db / 20.0)).clamp(-1.0, 1.0)


def spec_augment(features: torch.Tensor, config: AugmentConfig, rng: np.random.Generator) -> torch.Tensor:
    """SpecAugment frequency and time masking on log-mel features: (T, M) -> (T, M), a new tensor.

    Up to ``config.freq_masks`` bands of at most ``freq_mask_width`` bins and ``time_masks`` spans of
    at most ``time_mask_width`` frames; the time spans together cover at most
    ``time_mask_max_ratio`` of T.
    """
    if not isinstance(features, torch.Tensor) or features.dim() != 2 or not features.is_floating_point():
        raise ValueError(f"features must be a 2-D (T, M) float tensor, got {getattr(features, 'shape', type(features))}")
    frames, bins = features.shape
    if frames == 0 or bins == 0:
        raise ValueError(f"features must be non-empty, got shape {(frames, bins)}")
    # The features are not CMVN-normalized yet, so zero is a loud-or-quiet extreme rather than
    # "nothing"; each bin's utterance mean is what zero becomes after per-utterance CMVN.
    fill = features.mean(dim=0)
    out = features.clone()
    for _ in range(config.freq_masks):
        width = int(rng.integers(min(config.freq_mask_width, bins) + 1))
        start = int(rng.integers(bins - width + 1))
        out[:, start : start + width] = fill[start : start + width]
    budget = int(config.time_mask_max_ratio * frames)
    for _ in range(config.time_masks):
        width = int(rng.integers(min(config.time_mask_width, budget) + 1))
        start = int(rng.integers(frames - width + 1))
        out[start : start + width] = fill
        budget -= width
    return out


class Augmenter:
    """Random waveform augmentation for training, each effect with its probability from the config.

    The order follows the signal's path: speed and pitch change the talker; reverberation is the
    room the talker speaks in (a simulated room, asr/data/rooms.py); noise is added at the
    microphone (ambient sound, not the talker's echo); the telephone channel then carries speech
    and noise together; the microphone's response colours it and the recording chain's band
    edges bound it; gain is the recording level, so clipping happens where a real converter
    would clip; dither is the converter's noise floor; RNNoise last, as ``--denoise`` runs it on what
    was recorded (``denoise_prob``; off unless a config asks).

    Rooms come from a bank of ``config.room_bank`` simulated rooms made once, from ``seed``:
    simulating a room costs ~30 ms, a third of all the augmentation of an utterance, and a few
    hundred rooms vary as much as the corpus needs.
    """

    def __init__(
        self, config: AugmentConfig, babble_pool: Sequence[torch.Tensor] = (), seed: int = 0, music_pool: Sequence[torch.Tensor] = ()
    ) -> None:
        self.config = config
        rooms = np.random.default_rng([seed, config.room_bank])
        self.rooms = [room_impulse_response(rooms, rooms.uniform(*config.rt60_range)) for _ in range(config.room_bank if config.reverb_prob > 0 else 0)]
        self.babble_pool = _checked_pool(babble_pool, "babble_pool")
        self.music_pool = _checked_pool(music_pool, "music_pool")
        # without its pool, "babble" or "music" drops out and the draw is among the other kinds
        pools = {"babble": self.babble_pool, "music": self.music_pool}
        self.noise_kinds = tuple(kind for kind in config.noise_kinds if pools.get(kind, True))

    def __call__(self, wave: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Augment one utterance: (N,) -> (N',), N' ~ N / speed factor."""
        return self.channel(self.talker(wave, rng), rng)

    def talker(self, wave: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """The talker's part alone, speed and pitch: (N,) -> (N',), N' ~ N / speed factor."""
        wave, c = _check_wave(wave), self.config
        if rng.random() < c.speed_prob:
            wave = speed_perturb(wave, rng.uniform(*c.speed_range))
        if rng.random() < c.pitch_prob:
            wave = pitch_shift(wave, rng.uniform(-c.pitch_semitones, c.pitch_semitones))
        return wave

    def channel(self, wave: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Everything between the talker and the features, room to noise suppression: (N,) -> (N,).

        ``rng`` must be the generator that ``talker`` drew from: ``channel(talker(w, rng), rng)``
        is ``self(w, rng)``, so a clean twin of an augmented utterance costs no extra draw.
        """
        wave, c = _check_wave(wave), self.config
        if rng.random() < c.reverb_prob:
            wave = reverberate(wave, self.rooms[int(rng.integers(len(self.rooms)))])
        if rng.random() < c.noise_prob and self.noise_kinds:
            wave = add_noise_at_snr(wave, self._noise(wave.numel(), rng), rng.uniform(*c.snr_db_range))
        if rng.random() < c.telephone_prob:
            wave = telephone(wave, rng)
        if rng.random() < c.eq_prob:
            wave = microphone_eq(wave, rng, c.eq_gain_db)
        # drawn only when enabled, so that configs without them keep their random stream
        shelf = c.low_shelf_prob > 0 and rng.random() < c.low_shelf_prob
        lowpass = c.lowpass_prob > 0 and rng.random() < c.lowpass_prob
        if shelf or lowpass:
            wave = recording_band(wave, rng, c.low_shelf_db_range if shelf else None, c.lowpass_hz_range if lowpass else None)
        if rng.random() < c.gain_prob:
            wave = apply_gain(wave, rng.uniform(*c.gain_db_range))
        if c.dither > 0:
            wave = dither(wave, c.dither, rng)
        if c.denoise_prob > 0 and rng.random() < c.denoise_prob:
            wave = denoise(wave, rng.uniform(*c.denoise_mix_range))
        return wave

    def _noise(self, num_samples: int, rng: np.random.Generator) -> torch.Tensor:
        kind = self.noise_kinds[int(rng.integers(len(self.noise_kinds)))]
        if kind == "babble":
            return babble(self.babble_pool, num_samples, rng)
        if kind == "music":
            return music(self.music_pool, num_samples, rng)
        return colored_noise(kind, num_samples, rng)

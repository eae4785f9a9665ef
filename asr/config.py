"""Frozen configuration dataclasses, loaded from TOML in ``configs/``.

Unknown keys are an error, named with the file and section they came from, so a typo
never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "FeatureConfig",
    "ModelConfig",
    "AugmentConfig",
    "TrainConfig",
    "BeamConfig",
    "DecoderConfig",
    "DECODER_METHODS",
    "PRECISIONS",
    "ExperimentConfig",
    "load_config",
    "from_dict",
    "read_toml",
]

T = TypeVar("T")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class FeatureConfig:
    """Log-mel front end. Frames are ``win_length`` samples long, ``hop_length`` apart."""

    sample_rate: int = 16000
    n_mels: int = 80
    n_fft: int = 512
    win_length: int = 400  # 25 ms
    hop_length: int = 160  # 10 ms
    f_min: float = 20.0
    f_max: float = 7600.0
    highpass_hz: float = 0.0  # a Butterworth high-pass before framing, removing hum and rumble (asr/features.py); 0: none
    denoise_mix: float = 0.0  # RNNoise's suppressed signal mixed in at this share, first of all (asr/denoise.py); 0: none

    def __post_init__(self) -> None:
        _require(self.sample_rate == 16000, "features.sample_rate must be 16000 (audio is resampled on load)")
        _require(0 <= self.highpass_hz < self.f_max, "features.highpass_hz must be 0 (none) or a frequency below f_max")
        _require(0 <= self.denoise_mix <= 1, "features.denoise_mix must be 0 (none) or a share up to 1")
        _require(self.n_mels > 0, "features.n_mels must be positive")
        _require(0 < self.hop_length <= self.win_length <= self.n_fft, "features need 0 < hop_length <= win_length <= n_fft")
        _require(0 <= self.f_min < self.f_max <= self.sample_rate / 2, "features need 0 <= f_min < f_max <= sample_rate / 2")


@dataclass(frozen=True)
class ModelConfig:
    """Stacked unidirectional LSTM with a CTC output layer.

    Input frames (one per feature hop) are stacked ``stack_frames`` at a time, which sets the
    output rate (3 x 10 ms = 30 ms). Each output step may also see ``lookahead_frames`` future
    feature frames; that is the model's whole algorithmic lookahead, ``lookahead_frames`` x hop.
    ``units`` are what the CTC layer emits: "characters" (29 with the blank) or "phones" (41:
    39 ARPAbet phones, the word boundary and the blank). ``running_cmn_steps`` > 0 subtracts a
    running mean of each stream's own features, over about that many steps, before the global
    CMVN (asr/model.py), so that a new microphone or channel looks like the training data; it
    changes no weight's shape.
    """

    n_mels: int = 80
    stack_frames: int = 3
    lookahead_frames: int = 0
    layers: int = 3
    hidden: int = 320
    proj: int = 160  # 0 disables the LSTM projection
    vocab_size: int = 29
    dropout: float = 0.0
    units: str = "characters"
    running_cmn_steps: int = 0  # 0: the global CMVN alone

    MAX_LOOKAHEAD_FRAMES = 30  # 300 ms at a 10 ms hop: the bound on how far the model may peek ahead

    def __post_init__(self) -> None:
        _require(self.stack_frames >= 1, "model.stack_frames must be >= 1")
        _require(
            0 <= self.lookahead_frames <= self.MAX_LOOKAHEAD_FRAMES,
            f"model.lookahead_frames must be in [0, {self.MAX_LOOKAHEAD_FRAMES}]",
        )
        _require(self.layers >= 1 and self.hidden >= 1, "model.layers and model.hidden must be >= 1")
        _require(0 <= self.proj < self.hidden, "model.proj must be 0 (off) or smaller than model.hidden")
        _require(self.vocab_size >= 2, "model.vocab_size must be >= 2 (blank plus one symbol)")
        _require(0.0 <= self.dropout < 1.0, "model.dropout must be in [0, 1)")
        _require(self.units in ("characters", "phones"), f"model.units must be 'characters' or 'phones', got {self.units!r}")
        _require(self.running_cmn_steps == 0 or self.running_cmn_steps >= 3, "model.running_cmn_steps must be 0 (off) or >= 3")

    @property
    def input_dim(self) -> int:
        """Width of one stacked input step: (stack_frames + lookahead_frames) x n_mels."""
        return (self.stack_frames + self.lookahead_frames) * self.n_mels

    @property
    def output_dim(self) -> int:
        return self.proj or self.hidden


@dataclass(frozen=True)
class AugmentConfig:
    """On-the-fly training augmentation; each ``*_prob`` is the chance an utterance gets it."""

    speed_prob: float = 0.8
    speed_range: tuple[float, float] = (0.9, 1.1)
    pitch_prob: float = 0.3
    pitch_semitones: float = 2.0  # shift drawn uniformly from [-x, x]
    noise_prob: float = 0.6
    snr_db_range: tuple[float, float] = (0.0, 30.0)
    noise_kinds: tuple[str, ...] = ("white", "pink", "brown", "babble")  # and "music": the recordings in music_folder
    music_folder: str = "/usr/share/asterisk/moh"  # Debian's asterisk-moh-opsound-wav: five tracks, 18 min
    reverb_prob: float = 0.3
    rt60_range: tuple[float, float] = (0.1, 0.8)  # seconds, of a simulated room (asr/data/rooms.py)
    room_bank: int = 256  # simulated rooms made once per Augmenter and drawn from (~30 ms each to make)
    telephone_prob: float = 0.15
    eq_prob: float = 0.0  # a random microphone response: peaking and shelving filters
    eq_gain_db: float = 8.0  # each filter's gain is drawn from [-x, x]
    low_shelf_prob: float = 0.0  # rumble or proximity boost, or a high-pass cut, below 50-200 Hz
    low_shelf_db_range: tuple[float, float] = (-20.0, 20.0)
    lowpass_prob: float = 0.0  # a steep low-pass, as lossy codecs and cheap converters leave
    lowpass_hz_range: tuple[float, float] = (3800.0, 7500.0)
    gain_prob: float = 0.5
    gain_db_range: tuple[float, float] = (-12.0, 6.0)
    dither: float = 0.0  # white noise of this RMS (full scale 1) on every utterance: digital silence never occurs
    denoise_prob: float = 0.0  # RNNoise after the whole channel, as `--denoise` puts it in front of the features
    denoise_mix_range: tuple[float, float] = (0.3, 1.0)  # its mix with the input (asr/denoise.py), drawn uniformly
    vtlp_prob: float = 0.0  # vocal tract length perturbation of the features (asr/features.py)
    vtlp_range: tuple[float, float] = (0.8, 1.2)
    freq_masks: int = 2
    freq_mask_width: int = 15  # mel bins, at most
    time_masks: int = 2
    time_mask_width: int = 25  # feature frames (10 ms), at most
    time_mask_max_ratio: float = 0.2  # of an utterance's frames, in all time masks together

    NOISE_KINDS = ("white", "pink", "brown", "babble", "music")

    def __post_init__(self) -> None:
        for name in ("speed_range", "snr_db_range", "rt60_range", "gain_db_range", "vtlp_range", "noise_kinds", "low_shelf_db_range", "lowpass_hz_range", "denoise_mix_range"):
            object.__setattr__(self, name, tuple(getattr(self, name)))  # TOML gives lists
        for name in ("speed_prob", "pitch_prob", "noise_prob", "reverb_prob", "telephone_prob", "eq_prob", "low_shelf_prob", "lowpass_prob", "gain_prob", "vtlp_prob", "denoise_prob"):
            _require(0.0 <= getattr(self, name) <= 1.0, f"augment.{name} must be in [0, 1]")
        _require(self.eq_gain_db >= 0 and 0 <= self.dither < 0.1, "augment.eq_gain_db must be >= 0 and dither in [0, 0.1)")
        _require(0.5 <= self.vtlp_range[0] <= self.vtlp_range[1] <= 2.0, "augment.vtlp_range must be [low, high] within [0.5, 2]")
        for name in ("speed_range", "snr_db_range", "rt60_range", "gain_db_range", "low_shelf_db_range", "lowpass_hz_range"):
            low, high = getattr(self, name)
            _require(low <= high, f"augment.{name} must be [low, high] with low <= high")
        _require(self.speed_range[0] > 0 and self.rt60_range[0] > 0, "augment speed and rt60 ranges must be positive")
        _require(0 < self.lowpass_hz_range[0] and self.lowpass_hz_range[1] < 8000, "augment.lowpass_hz_range must lie within (0, 8000) Hz")
        _require(self.room_bank >= 1, "augment.room_bank must be >= 1")
        _require(0 < self.denoise_mix_range[0] <= self.denoise_mix_range[1] <= 1, "augment.denoise_mix_range must be [low, high] within (0, 1]")
        unknown = set(self.noise_kinds) - set(self.NOISE_KINDS)
        _require(not unknown, f"augment.noise_kinds: unknown {sorted(unknown)}; choose from {self.NOISE_KINDS}")
        _require(min(self.freq_masks, self.freq_mask_width, self.time_masks, self.time_mask_width) >= 0, "augment mask counts and widths must be >= 0")
        _require(0.0 <= self.time_mask_max_ratio <= 1.0, "augment.time_mask_max_ratio must be in [0, 1]")


@dataclass(frozen=True)
class TrainConfig:
    """The training run: data, optimization schedule, checkpointing. Paths are relative to the working directory."""

    train_manifest: str = ""
    dev_manifest: str = ""
    leave_out_engines: tuple[str, ...] = ()  # training engines whose utterances are skipped (a leave-one-out run)
    output_dir: str = "runs/default"
    init_from: str = ""  # a checkpoint whose weights and CMVN start the run (fine-tuning; fewer cells or lookahead frames grow); "" starts from scratch
    batch_seconds: float = 300.0  # audio per batch; batches are bucketed by length
    sortagrad: bool = True  # first epoch shortest utterances first, later epochs shuffled
    clean_epochs: int = 0  # epochs at the start without augmentation (a curriculum: CTC aligns sooner)
    max_utterance_seconds: float = 20.0
    epochs: int = 20
    max_steps: int = 0  # stop after this many steps if > 0, whatever the epoch
    learning_rate: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 300
    final_lr_ratio: float = 0.05  # cosine decay from learning_rate down to learning_rate x this
    grad_clip: float = 5.0
    checkpoint_every: int = 500  # steps
    log_every: int = 20  # steps
    dev_utterances: int = 300  # dev WER on at most this many utterances each epoch
    cmvn_utterances: int = 400  # training utterances used for the CMVN statistics
    babble_pool: int = 200  # training utterances kept in memory to make babble noise from
    num_workers: int = 2  # data-loading processes; -1: one per core but one
    seed: int = 0
    mixed_precision: bool = True  # bf16 autocast, on CUDA only
    ema_decay: float = 0.0  # > 0: also keep an exponential moving average of the weights, exported as model_ema.pt
    # a teacher checkpoint (same features, frame stacking and lookahead): its posteriors on each utterance's clean twin
    # (before room, noise and channel) are the student's targets on the augmented one, beside CTC; "" trains on CTC alone
    distill_from: str = ""
    distill_weight: float = 1.0  # the frame-averaged KL(teacher || student) is added to the CTC loss times this

    def __post_init__(self) -> None:
        object.__setattr__(self, "leave_out_engines", tuple(self.leave_out_engines))  # TOML gives a list; checked by the trainer
        _require(self.batch_seconds > 0 and self.max_utterance_seconds > 0, "train batch and utterance lengths must be positive")
        _require(self.max_utterance_seconds <= self.batch_seconds, "train.max_utterance_seconds must be <= batch_seconds")
        _require(self.epochs >= 1 and self.max_steps >= 0, "train.epochs must be >= 1 and max_steps >= 0")
        _require(self.learning_rate > 0 and 0 < self.final_lr_ratio <= 1, "train learning rate settings must be positive")
        _require(self.checkpoint_every >= 1 and self.log_every >= 1, "train.checkpoint_every and log_every must be >= 1")
        _require(self.num_workers >= -1 and self.grad_clip > 0, "train.num_workers must be >= -1 and grad_clip > 0")
        _require(self.clean_epochs >= 0, "train.clean_epochs must be >= 0")
        _require(0 <= self.ema_decay < 1, f"train.ema_decay must be in [0, 1), got {self.ema_decay}")
        _require(0 <= self.distill_weight < math.inf, f"train.distill_weight must be a finite number of at least 0, got {self.distill_weight}")


@dataclass(frozen=True)
class BeamConfig:
    """Beam search with a word LM (asr/beam.py).

    The defaults were tuned for en-synth-v2 on the dev split (training voices) and cost the held-out
    test split +28% of one live stream's CPU time (bench/beam_cost.py; beam 50: +19%, beam 200: +41%).
    A model folder's ``decoder.json`` (asr/decoders.py: ``tuned_search``) sets its own.
    """

    beam_size: int = 100  # hypotheses kept per step
    tokens_per_step: int = 8  # each hypothesis is extended by the step's likeliest tokens only
    lm_weight: float = 1.5  # weight of the LM's log-probability against the acoustic one
    word_score: float = 0.0  # added per word; higher favours more, shorter words
    beam_threshold: float = 10.0  # hypotheses this far below the best are pruned
    prior_weight: float = 0.0  # each token's log-prob loses this times its log prior before the search
    token_priors: tuple[float, ...] = ()  # the model's mean posterior of each token (asr/priors.py)
    nbest: int = 1
    hotword_boost: float = 5.0  # added to a hotword's LM log10 score when a hotword gives none (README, "Hotwords")
    # alternatives are kept for the last this many steps; the best path's words before them are settled and the rest
    # of the history freed (asr/beam.py: BeamSearch; 0: keep it all). 60 steps (1.8 s) cost no accuracy on dev.
    history_steps: int = 60

    def __post_init__(self) -> None:
        _require(self.beam_size >= 1, f"beam_size must be at least 1, got {self.beam_size}")
        _require(self.tokens_per_step >= 1, f"tokens_per_step must be at least 1, got {self.tokens_per_step}")
        _require(self.nbest >= 1, f"nbest must be at least 1, got {self.nbest}")
        _require(self.history_steps >= 0, f"history_steps must be at least 0, got {self.history_steps}")
        _require(self.beam_threshold > 0, f"beam_threshold must be positive, got {self.beam_threshold}")
        _require(0 <= self.prior_weight < math.inf, f"prior_weight must be a finite number of at least 0, got {self.prior_weight}")
        object.__setattr__(self, "token_priors", tuple(float(p) for p in self.token_priors))  # JSON gives a list
        _require(all(0 < p <= 1 for p in self.token_priors), "token_priors must be probabilities above 0")
        _require(not self.prior_weight or self.token_priors, "prior_weight needs token_priors (asr export --priors MANIFEST)")


DECODER_METHODS = ("auto", "lexicon", "greedy")
# the acoustic model's arithmetic at inference (int8: asr/int8.py, CPU only); auto: int8 where it has float32's accuracy
# (asr.stream.resolve_precision), else float32
PRECISIONS = ("auto", "float32", "int8")


@dataclass(frozen=True)
class DecoderConfig:
    """How a recognizer turns the model's output into words (asr/decoders.py builds it).

    "lexicon" is the beam search with the word LM over the lexicon's words; "greedy" is the best
    path, for character models only; "auto" is the lexicon search wherever the model ships its LM
    (and, for a phone model, its lexicon), else greedy. ``lm`` and ``lexicon`` default to the
    files beside the model; ``beam`` to the search settings tuned for the model (``decoder.json``
    beside it, written by ``asr export``), else BeamConfig's defaults.
    """

    method: str = "auto"
    lm: str | None = None
    lexicon: str | None = None
    beam: BeamConfig | None = None

    def __post_init__(self) -> None:
        _require(self.method in DECODER_METHODS, f"decoder method must be one of {', '.join(DECODER_METHODS)}; got {self.method!r}")


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything one TOML file in ``configs/`` describes."""

    features: FeatureConfig = FeatureConfig()
    model: ModelConfig = ModelConfig()
    augment: AugmentConfig = AugmentConfig()
    train: TrainConfig = TrainConfig()

    def __post_init__(self) -> None:
        _require(
            self.features.n_mels == self.model.n_mels,
            f"model.n_mels ({self.model.n_mels}) must equal features.n_mels ({self.features.n_mels})",
        )


def from_dict(cls: type[T], data: dict[str, Any], where: str) -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys raise ValueError naming ``where``."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a table, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(known))}")
    try:
        return cls(**data)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from error


def read_toml(path: Path, known_sections: set[str]) -> dict[str, Any]:
    """A TOML file's tables; a missing file, bad TOML or an unknown section raise ValueError naming the file."""
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: invalid TOML: {error}") from None
    unknown = sorted(set(raw) - known_sections)
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {', '.join(unknown)}; known: {', '.join(sorted(known_sections))}")
    return raw


def load_config(path: str | Path) -> ExperimentConfig:
    """Read an ExperimentConfig from a TOML file; missing sections take their defaults."""
    path = Path(path)
    raw = read_toml(path, {f.name for f in dataclasses.fields(ExperimentConfig)})
    features = from_dict(FeatureConfig, raw.get("features", {}), f"{path} [features]")
    model = from_dict(ModelConfig, raw.get("model", {}), f"{path} [model]")
    augment = from_dict(AugmentConfig, raw.get("augment", {}), f"{path} [augment]")
    train = from_dict(TrainConfig, raw.get("train", {}), f"{path} [train]")
    try:
        return ExperimentConfig(features=features, model=model, augment=augment, train=train)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None

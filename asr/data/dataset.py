"""Training data: augmented, stacked log-mel features and targets (characters or phones), in length buckets.

Shape legend: T model steps, D step width, M mel bins, U target units, B batch.

Every random choice for item ``i`` in epoch ``e`` comes from a generator seeded with
``(seed, e, i)``, so a batch is the same whichever worker builds it and however often the
run is resumed; and the batch order of an epoch depends only on ``(seed, e)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from asr.audio import load_audio
from asr.config import AugmentConfig, FeatureConfig, ModelConfig
from asr.data.augment import Augmenter, spec_augment
from asr.data.manifest import ManifestEntry
from asr.features import LogMel, stack_frames
from asr.lexicon import pronounce
from asr.phones import join_words
from asr.tokens import CHARACTERS, Tokenizer

__all__ = ["SpeechDataset", "training_labels", "length_buckets", "collate", "compute_cmvn", "Batch"]

Batch = tuple[torch.Tensor, ...]
"""(features (B, T, D), lengths (B,), targets (sum U,), target_lengths (B,)), then, from a dataset
with ``clean_twins``, the clean twins' features (B, T, D)."""


def training_labels(entries: Sequence[ManifestEntry], tokenizer: Tokenizer) -> list[str]:
    """Each entry's targets as a label string: its text for a character model; for a phone model
    its ``phones`` (what its speaker said), else each word's first lexicon pronunciation."""
    missing = [e.audio for e in entries if not e.text]
    if missing:
        raise ValueError(f"{len(missing)} manifest entries have no text, e.g. {missing[0]}")
    if tokenizer.units == CHARACTERS:
        return [str(e.text) for e in entries]
    lexicon = pronounce({word for e in entries if not e.phones for word in str(e.text).split()})
    return [e.phones or join_words([lexicon[word][0] for word in str(e.text).split()]) for e in entries]


class SpeechDataset(torch.utils.data.Dataset):
    """Manifest entries -> (features (T, D), targets (U,)), augmented when ``augment`` is given.

    With ``clean_twins`` each item also carries its clean twin (T, D): the same talker (speed,
    pitch and vocal-tract warp) before the room, noise and channel, frame for frame; a teacher
    reads it in distillation (asr/train.py).
    """

    def __init__(
        self,
        entries: Sequence[ManifestEntry],
        tokenizer: Tokenizer,
        features: FeatureConfig,
        model: ModelConfig,
        augment: AugmentConfig | None = None,
        seed: int = 0,
        babble_pool: Sequence[torch.Tensor] = (),
        music_pool: Sequence[torch.Tensor] = (),
        clean_twins: bool = False,
    ) -> None:
        self.entries = list(entries)
        self.targets = [torch.tensor(tokenizer.encode(label), dtype=torch.long) for label in training_labels(self.entries, tokenizer)]
        self.logmel = LogMel(features)
        self.model_config = model
        self.augment = augment
        self.augmenter = Augmenter(augment, babble_pool, seed, music_pool) if augment is not None else None
        self.seed = seed
        self.epoch = 0
        self.augmenting = True
        self.clean_twins = clean_twins

    def set_epoch(self, epoch: int, augment: bool = True) -> None:
        """Seed the next epoch's items; ``augment=False`` gives clean features for that epoch."""
        self.epoch = epoch
        self.augmenting = augment

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        """(features (T, D), targets (U,)), then the clean twin (T, D) with ``clean_twins``."""
        wave = load_audio(self.entries[index].audio)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        augmenting = self.augment is not None and self.augmenter is not None and self.augmenting
        talker = self.augmenter.talker(wave, rng) if augmenting else wave
        heard = self.augmenter.channel(talker, rng) if augmenting else wave
        warp = 1.0
        if augmenting and rng.random() < self.augment.vtlp_prob:
            warp = round(float(rng.uniform(*self.augment.vtlp_range)), 2)
        logmel = self.logmel(heard, warp)  # (F, M)
        if augmenting:
            logmel = spec_augment(logmel, self.augment, rng)
        features = self._stacked(logmel)
        if not self.clean_twins:
            return features, self.targets[index]
        # the channel keeps every sample where it was (Augmenter.channel: (N,) -> (N,)), so the twin's frames are the heard ones
        return features, self.targets[index], self._stacked(self.logmel(talker, warp))

    def _stacked(self, logmel: torch.Tensor) -> torch.Tensor:
        """(F, M) log-mel frames -> (T, D) model steps."""
        config = self.model_config
        return stack_frames(logmel, config.stack_frames, config.lookahead_frames)


def length_buckets(
    durations: Sequence[float],
    batch_seconds: float,
    seed: int,
    epoch: int,
    rank: int = 0,
    world_size: int = 1,
    sortagrad: bool = False,
) -> list[list[int]]:
    """Index batches of similar length whose padded size (count x longest) fits ``batch_seconds``.

    The batch order is shuffled by ``(seed, epoch)``, except that with ``sortagrad`` epoch 0
    runs shortest first (DeepSpeech 2's SortaGrad: CTC finds its alignments on short
    utterances before it meets long ones). With several ranks, each gets every
    ``world_size``-th batch of an equal share (the remainder is dropped so all ranks step together).
    """
    order = sorted(range(len(durations)), key=lambda i: (durations[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        if current and (len(current) + 1) * durations[index] > batch_seconds:
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    if sortagrad and epoch == 0:
        shuffled = batches
    else:
        shuffled = [batches[i] for i in np.random.default_rng([seed, epoch]).permutation(len(batches))]
    usable = len(shuffled) // world_size * world_size
    return shuffled[:usable][rank::world_size]


def collate(items: Sequence[tuple[torch.Tensor, ...]]) -> Batch:
    """Pad and join a dataset's items into a ``Batch`` (clean twins too, when the items carry them)."""
    features = pad_sequence([item[0] for item in items], batch_first=True)
    lengths = torch.tensor([item[0].shape[0] for item in items])
    targets = torch.cat([item[1] for item in items])
    target_lengths = torch.tensor([item[1].numel() for item in items])
    twins = (pad_sequence([item[2] for item in items], batch_first=True),) if len(items[0]) > 2 else ()
    return features, lengths, targets, target_lengths, *twins


def compute_cmvn(entries: Sequence[ManifestEntry], features: FeatureConfig, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-bin mean and std (M,) of clean log-mel frames over ``count`` random training utterances."""
    if not entries:
        raise ValueError("no training utterances to compute CMVN statistics from")
    logmel = LogMel(features)
    chosen = np.random.default_rng(seed).permutation(len(entries))[:count]
    total = torch.zeros(features.n_mels, dtype=torch.float64)
    squares = torch.zeros(features.n_mels, dtype=torch.float64)
    frames = 0
    for index in chosen.tolist():
        feats = logmel(load_audio(entries[index].audio)).double()
        total += feats.sum(0)
        squares += feats.square().sum(0)
        frames += feats.shape[0]
    if frames == 0:
        raise ValueError("the CMVN utterances hold no complete feature frame")
    mean = total / frames
    std = (squares / frames - mean.square()).clamp_min(1e-8).sqrt()
    return mean.float(), std.float()

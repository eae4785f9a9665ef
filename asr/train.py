"""CTC training: AdamW, warmup then cosine decay, gradient clipping, length-bucketed batches.

Runs on one CPU or GPU, or on many through ``torchrun`` (DistributedDataParallel; NCCL on
CUDA, gloo on CPU). Every ``checkpoint_every`` steps and at each epoch's end, rank 0 writes
``train_state.pt`` (weights, optimizer, scheduler, RNG states and the position in the data)
and the inference checkpoint ``model.pt``. A resumed run continues exactly where the saved
one stopped: the same batches, the same augmentation, the same weights. With ``ema_decay`` set,
the run also keeps an exponential moving average of the weights (resumed with the rest) and
writes it as a second inference checkpoint, ``model_ema.pt``. With ``distill_from`` set, a frozen
teacher reads each utterance's clean twin and the student learns to give its posteriors on the
augmented utterance too (teacher-student learning for noise robustness, Li et al. 2017).
"""

from __future__ import annotations

import csv
import math
import os
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import jiwer
import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from asr.audio import load_audio
from asr.checkpoint import Checkpoint, load_checkpoint, resolve_model_path, save_checkpoint
from asr.config import ExperimentConfig
from asr.data.augment import load_recordings
from asr.data.dataset import SpeechDataset, collate, compute_cmvn, length_buckets, training_labels
from asr.data.importers import POCKETSPHINX_TESTDATA
from asr.data.manifest import ManifestEntry, read_manifest
from asr.data.voices import Voice, check_left_out_engines, is_held_out
from asr.model import AcousticModel
from asr.shard import join_process_group, leave_process_group
from asr.tokens import Tokenizer

__all__ = ["train", "TRAIN_STATE", "MODEL_FILE", "EMA_MODEL_FILE", "LOG_FILE"]

TRAIN_STATE, MODEL_FILE, EMA_MODEL_FILE, LOG_FILE = "train_state.pt", "model.pt", "model_ema.pt", "log.csv"
LOG_FIELDS = ["step", "epoch", "loss", "learning_rate", "grad_norm", "audio_hours", "elapsed_s", "dev_error"]


def _load_entries(path: str, max_seconds: float, role: str, leave_out_engines: tuple[str, ...] = ()) -> list[ManifestEntry]:
    """The manifest's utterances with text, at most ``max_seconds`` long, none said by a left-out engine."""
    if not path:
        raise ValueError(f"train.{role}_manifest is not set (give it in the config or on the command line)")
    check_left_out_engines(leave_out_engines, "train.leave_out_engines")
    entries = read_manifest(path)
    _refuse_held_out(entries, path)
    kept = [
        e for e in entries
        if e.text and (e.duration is None or e.duration <= max_seconds) and e.engine not in leave_out_engines
    ]  # fmt: skip
    if not kept:
        left_out = f", not said by {', '.join(leave_out_engines)}" if leave_out_engines else ""
        raise ValueError(f"{path}: no usable utterances (with text, at most {max_seconds} s{left_out})")
    return kept


def _refuse_held_out(entries: list[ManifestEntry], path: str) -> None:
    """ValueError when a manifest holds test material: a held-out voice (flite, HTS, the ARCTIC
    speakers slt, awb and rms) or a recording of Debian's pocketsphinx-testdata."""
    testdata = POCKETSPHINX_TESTDATA.resolve()
    held_out = [e for e in entries if is_held_out(_voice(e)) or Path(e.audio).resolve().is_relative_to(testdata)]
    if held_out:
        first = held_out[0]
        raise ValueError(
            f"{path}: {len(held_out)} utterances are held-out test material (first: {first.audio}, voice {first.voice}); "
            "nothing trains or selects checkpoints on flite or HTS voices, the ARCTIC speakers slt, awb and rms, or pocketsphinx-testdata"
        )


def _voice(entry: ManifestEntry) -> Voice:
    """An entry's voice: "engine:name" from the corpus builder, a bare speaker name from an importer."""
    engine, colon, name = (entry.voice or "").partition(":")
    return Voice(engine, name) if colon else Voice("", engine)


def _schedule(config: ExperimentConfig, total_steps: int) -> Any:
    """Linear warmup, then cosine decay to ``final_lr_ratio`` of the peak at ``total_steps``."""
    train = config.train

    def factor(step: int) -> float:
        if step < train.warmup_steps:
            return (step + 1) / train.warmup_steps
        progress = min(1.0, (step - train.warmup_steps) / max(1, total_steps - train.warmup_steps))
        return train.final_lr_ratio + (1 - train.final_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def _init_from(model: AcousticModel, config: ExperimentConfig, path: Path) -> None:
    """Start from a checkpoint's weights and CMVN. Its model and features must be the config's, but for
    what changes no weight: ``running_cmn_steps`` (a model can learn to use a running mean from one
    without), ``dropout`` and the features' ``highpass_hz`` (the run's own is kept); and for one growth
    that keeps what it computed: a smaller ``hidden`` (a narrower model is widened,
    AcousticModel.load_narrower) or fewer ``lookahead_frames`` (the new future frames start unused,
    AcousticModel.load_shorter_lookahead)."""
    checkpoint = load_checkpoint(path)
    theirs_model = replace(checkpoint.model.config, running_cmn_steps=config.model.running_cmn_steps, dropout=config.model.dropout)
    widen = config.model.proj > 0 and theirs_model.hidden < config.model.hidden
    lengthen = theirs_model.lookahead_frames < config.model.lookahead_frames
    compared = theirs_model  # one growth at a time: with both, the configs differ
    if widen and not lengthen:
        compared = replace(theirs_model, hidden=config.model.hidden)
    elif lengthen and not widen:
        compared = replace(theirs_model, lookahead_frames=config.model.lookahead_frames)
    theirs_features = replace(checkpoint.features, highpass_hz=config.features.highpass_hz)
    for part, theirs, ours in (("model", compared, config.model), ("features", theirs_features, config.features)):
        if theirs != ours:
            raise ValueError(f"train.init_from {path}: its {part} config {asdict(theirs)} differs from this run's {asdict(ours)}")
    if widen:
        model.load_narrower(checkpoint.model)
    elif lengthen:
        model.load_shorter_lookahead(checkpoint.model)
    else:
        model.load_state_dict(checkpoint.model.state_dict())
        model.set_cmvn(checkpoint.model.cmvn_mean, checkpoint.model.cmvn_std)


def _load_teacher(config: ExperimentConfig, path: Path) -> AcousticModel:
    """The frozen teacher of ``train.distill_from``: it must read the same features, stacked the same way,
    into the same units, so that its posteriors and the student's describe the same frames."""
    checkpoint = load_checkpoint(path)
    theirs, ours = checkpoint.model.config, config.model
    shape = ("stack_frames", "lookahead_frames", "vocab_size", "units")
    if checkpoint.features != config.features or any(getattr(theirs, name) != getattr(ours, name) for name in shape):
        raise ValueError(
            f"train.distill_from {path}: the teacher must share this run's features and its {', '.join(shape)}; "
            f"teacher {asdict(checkpoint.features)} {asdict(theirs)}, this run {asdict(config.features)} {asdict(ours)}"
        )
    teacher = checkpoint.model.eval()
    teacher.requires_grad_(False)
    return teacher


def _distillation_loss(student: torch.Tensor, teacher: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) per frame, averaged over the valid frames.

    Args:
        student: (B, T, V) log-probabilities, with gradients.
        teacher: (B, T, V) log-probabilities.
        lengths: (B,) valid frames of each row.
    """
    per_frame = (teacher.exp() * (teacher - student)).sum(dim=-1)  # (B, T)
    valid = torch.arange(per_frame.shape[1], device=per_frame.device)[None, :] < lengths[:, None]
    return per_frame[valid].mean()


def _workers(configured: int, world_size: int) -> int:
    """Data-loading processes per rank: ``-1`` shares the cores among the ranks, keeping one each."""
    if configured >= 0:
        return configured
    return max(0, (os.cpu_count() or 1) // world_size - 1)


class Trainer:
    """One training run; rank 0 of a distributed run does the logging and the saving."""

    def __init__(self, config: ExperimentConfig, device: torch.device, rank: int = 0, world_size: int = 1) -> None:
        self.config, self.device, self.rank, self.world_size = config, device, rank, world_size
        train = config.train
        self.output = Path(train.output_dir)
        self.tokenizer = Tokenizer.for_units(config.model.units)
        self.entries = _load_entries(train.train_manifest, train.max_utterance_seconds, "train", train.leave_out_engines)
        self.dev_entries = _load_entries(train.dev_manifest, 60.0, "dev")[: train.dev_utterances] if train.dev_manifest else []
        self.model = AcousticModel(config.model)
        if train.init_from:
            _init_from(self.model, config, resolve_model_path(train.init_from))
        else:
            self.model.set_cmvn(*compute_cmvn(self.entries, config.features, train.cmvn_utterances, train.seed))
        self.model.to(device)
        self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(train.ema_decay)) if train.ema_decay else None
        pool = np.random.default_rng(train.seed).permutation(len(self.entries))[: train.babble_pool]
        babble = [load_audio(self.entries[i].audio) for i in pool.tolist()]
        music = load_recordings(config.augment.music_folder) if "music" in config.augment.noise_kinds else []
        self.teacher = _load_teacher(config, resolve_model_path(train.distill_from)).to(device) if train.distill_from else None
        self.dataset = SpeechDataset(
            self.entries, self.tokenizer, config.features, config.model, config.augment, train.seed, babble, music, clean_twins=self.teacher is not None
        )
        self.durations = [e.duration if e.duration is not None else train.max_utterance_seconds for e in self.entries]
        self.steps_per_epoch = len(self._batches(0))
        self.total_steps = train.max_steps or train.epochs * self.steps_per_epoch
        self.network = DistributedDataParallel(self.model) if world_size > 1 else self.model
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=train.learning_rate, weight_decay=train.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _schedule(config, self.total_steps))
        self.step, self.epoch, self.batch_in_epoch, self.audio_seconds = 0, 0, 0, 0.0
        self.epoch_batches = self.steps_per_epoch  # batches in the current epoch; set by epoch_loader
        self.step_seconds = config.model.stack_frames * config.features.hop_length / config.features.sample_rate

    # -- state -------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict() if self.ema else None,
            "cmvn": (self.model.cmvn_mean.cpu(), self.model.cmvn_std.cpu()),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "position": (self.step, self.epoch, self.batch_in_epoch, self.audio_seconds),
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
            "config": asdict(self.config),
        }

    def restore(self, path: Path) -> None:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state["config"]["model"] != asdict(self.config.model):
            raise ValueError(f"{path}: saved with a different model config; use another output_dir or the same config")
        self.model.load_state_dict(state["model"])
        if self.ema and state.get("ema"):  # a run saved without an average starts one from its current weights
            self.ema.load_state_dict(state["ema"])
        self.model.set_cmvn(*(t.to(self.device) for t in state["cmvn"]))
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.epoch, self.batch_in_epoch, self.audio_seconds = state["position"]
        torch.set_rng_state(state["rng"])
        if state["cuda_rng"]:
            torch.cuda.set_rng_state_all(state["cuda_rng"])

    def save(self, started: float) -> None:
        if self.rank != 0:
            return
        self.output.mkdir(parents=True, exist_ok=True)
        partial = self.output / (TRAIN_STATE + ".partial")
        torch.save(self.state(), partial)
        partial.replace(self.output / TRAIN_STATE)
        metadata = {
            "trained": True,
            "steps": self.step,
            "epochs": round(self.step / max(1, self.steps_per_epoch), 2),
            "train_manifest": self.config.train.train_manifest,
            "train_utterances": len(self.entries),
            "train_hours": round(sum(self.durations) / 3600, 2),
            "audio_hours_seen": round(self.audio_seconds / 3600, 2),
            "training_seconds": round(time.time() - started, 1),
            "devices": f"{self.world_size} x {self.device.type}",
            "config": asdict(self.config),
        }
        self._export(self.model, metadata, MODEL_FILE)
        if self.ema:
            self._export(self.ema.module, {**metadata, "weights": f"moving average (decay {self.config.train.ema_decay})"}, EMA_MODEL_FILE)

    def _export(self, weights: AcousticModel, metadata: dict[str, Any], name: str) -> None:
        """Write ``weights`` (with the run's CMVN) as an inference checkpoint in the output folder."""
        export = AcousticModel(self.config.model)
        export.load_state_dict({k: v.cpu() for k, v in weights.state_dict().items()})
        export.set_cmvn(self.model.cmvn_mean.cpu(), self.model.cmvn_std.cpu())
        save_checkpoint(Checkpoint(export, self.tokenizer, self.config.features, metadata), self.output / name)

    # -- the loop ----------------------------------------------------------------------
    def _batches(self, epoch: int) -> list[list[int]]:
        train = self.config.train
        return length_buckets(self.durations, train.batch_seconds, train.seed, epoch, self.rank, self.world_size, train.sortagrad)

    def epoch_loader(self) -> torch.utils.data.DataLoader:
        """The current epoch's batches from the current position, augmented unless a clean epoch."""
        train = self.config.train
        batches = self._batches(self.epoch)
        self.epoch_batches = len(batches)
        self.dataset.set_epoch(self.epoch, augment=self.epoch >= train.clean_epochs)
        return torch.utils.data.DataLoader(
            self.dataset,
            batch_sampler=batches[self.batch_in_epoch :],
            collate_fn=collate,
            num_workers=_workers(train.num_workers, self.world_size),
            pin_memory=self.device.type == "cuda",  # page-locked batches copy to the GPU faster
            generator=torch.Generator().manual_seed(train.seed),  # keeps the global RNG untouched
        )

    def train_step(self, batch: tuple[torch.Tensor, ...]) -> tuple[float, float]:
        """One optimizer step on a collated batch; returns (loss, gradient norm)."""
        features, lengths, targets, target_lengths, *twins = batch
        autocast = self.device.type == "cuda" and self.config.train.mixed_precision
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=autocast):
            # Padded, not packed: a unidirectional LSTM's outputs at valid steps do not depend on the
            # padding after them, CTC reads only the first ``lengths`` steps, and on the CPU a packed
            # batch's backward pass measured 3.6x slower (an LSTM step per distinct length).
            log_probs, _ = self.network(features.to(self.device))  # (B, T, V)
        log_probs, lengths = log_probs.float(), lengths.to(self.device)
        loss = torch.nn.functional.ctc_loss(
            log_probs.transpose(0, 1), targets.to(self.device), lengths, target_lengths.to(self.device),
            blank=self.tokenizer.blank_id, reduction="mean", zero_infinity=True,
        )
        if self.teacher is not None:
            with torch.no_grad(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=autocast):
                teacher_log_probs, _ = self.teacher(twins[0].to(self.device))  # (B, T, V)
            distillation = _distillation_loss(log_probs, teacher_log_probs.float(), lengths)
            loss = loss + self.config.train.distill_weight * distillation
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.train.grad_clip)
        if torch.isfinite(grad_norm):  # a rare inf/nan batch is skipped rather than poisoning Adam's moments
            self.optimizer.step()
            if self.ema:
                self.ema.update_parameters(self.model)
        self.scheduler.step()
        return float(loss.detach()), float(grad_norm)

    def dev_error(self) -> float | None:
        """Greedy error rate on the dev utterances (clean features): WER for characters, PER for phones.

        Either way it is the edit distance between the best-path label string and the reference,
        counted in the space-separated units: words of text, or phones and word boundaries.
        """
        if not self.dev_entries:
            return None
        dataset = SpeechDataset(self.dev_entries, self.tokenizer, self.config.features, self.config.model)
        hypotheses = []
        self.model.eval()
        with torch.inference_mode():
            for index in range(len(dataset)):
                features, _ = dataset[index]
                best = self.model(features[None].to(self.device))[0][0].argmax(dim=-1).tolist()  # (T,)
                hypotheses.append(self.tokenizer.decode(self.tokenizer.collapse(best)))
        self.model.train()
        return float(jiwer.wer(training_labels(self.dev_entries, self.tokenizer), hypotheses))

    def run(self, stop_after: int | None = None) -> None:
        """Train to the end of the schedule, or pause (saved, resumable) after ``stop_after`` steps."""
        started = time.time()
        log = _Log(self.output / LOG_FILE) if self.rank == 0 else None
        bar = tqdm(total=self.total_steps, initial=self.step, desc="training", unit="step", disable=self.rank != 0 or None)
        last_step = min(self.total_steps, stop_after or self.total_steps)
        loss = grad_norm = math.nan
        self.model.train()
        while self.step < last_step and self.epoch < self.config.train.epochs:
            for batch in self.epoch_loader():
                loss, grad_norm = self.train_step(batch)
                self.step += 1
                self.batch_in_epoch += 1
                self.audio_seconds += float(batch[1].sum()) * self.step_seconds * self.world_size
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.3f}", epoch=self.epoch)
                if log and self.step % self.config.train.log_every == 0:
                    log.write(self, loss, grad_norm, started)
                if self.step % self.config.train.checkpoint_every == 0:
                    self.save(started)
                if self.step >= last_step:
                    break
            if self.batch_in_epoch >= self.epoch_batches:  # the epoch ran to its end
                self.epoch, self.batch_in_epoch = self.epoch + 1, 0
                error = self.dev_error() if self.rank == 0 else None
                if log:
                    log.write(self, loss, grad_norm, started, dev_error=error)
                    unit = "WER" if self.tokenizer.units == "characters" else "PER"
                    tqdm.write(f"epoch {self.epoch}: step {self.step}, loss {loss:.3f}" + (f", dev {unit} {error:.1%}" if error is not None else ""))
        bar.close()
        self.save(started)


class _Log:
    """Appends rows to the CSV training log (header written once)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        if not path.exists():
            with path.open("w", newline="") as handle:
                csv.writer(handle).writerow(LOG_FIELDS)

    def write(self, trainer: Trainer, loss: float, grad_norm: float, started: float, dev_error: float | None = None) -> None:
        row = [
            trainer.step, trainer.epoch, f"{loss:.4f}", f"{trainer.scheduler.get_last_lr()[0]:.6f}", f"{grad_norm:.3f}",
            f"{trainer.audio_seconds / 3600:.3f}", f"{time.time() - started:.1f}", "" if dev_error is None else f"{dev_error:.4f}",
        ]
        with self.path.open("a", newline="") as handle:
            csv.writer(handle).writerow(row)


def train(config: ExperimentConfig, resume: bool = True, stop_after: int | None = None) -> Path:
    """Train (or resume) the run in ``config.train.output_dir``; returns the path of ``model.pt``.

    ``stop_after`` pauses the run once it reaches that step (for time-boxed machines); the
    same call later resumes it with an unchanged schedule.
    """
    device, rank, world_size = join_process_group()
    torch.manual_seed(config.train.seed)
    trainer = Trainer(config, device, rank, world_size)
    state_path = trainer.output / TRAIN_STATE
    if resume and state_path.exists():
        trainer.restore(state_path)
    try:
        trainer.run(stop_after)
    finally:
        leave_process_group()
    return trainer.output / MODEL_FILE

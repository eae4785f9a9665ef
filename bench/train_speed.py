"""Training speed: is a run bound by the model step or by loading and augmenting the audio?

Times the two halves of training separately, on the real corpus and config:

- the model step (forward, CTC loss, backward, clipping, AdamW) on batches with the corpus's
  real lengths but random features, for several batch sizes;
- the data loader (read, augment, log-mel, SpecAugment, collate) for several worker counts.

A run goes as fast as the slower half. A unidirectional LSTM is sequential in time, so on a GPU
one step costs about the same whatever the batch holds, until the batch fills the GPU: if the
model step is the bound, a larger batch_seconds is nearly free throughput.

    .venv/bin/python bench/train_speed.py corpus/train.jsonl
    python bench/train_speed.py /data/corpus/train.jsonl --device cuda --batch-seconds 200 400 800 --workers 7 15

Prints a table of audio seconds processed per wall second for each half.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import time
from pathlib import Path

import torch

from asr.config import load_config
from asr.data.dataset import collate, length_buckets
from asr.train import Trainer

ROOT = Path(__file__).resolve().parent.parent


def model_step_speed(trainer: Trainer, batch_seconds: float, steps: int) -> float:
    """Audio seconds per wall second of ``train_step`` on ``steps`` batches of real lengths, random features."""
    train = trainer.config.train
    batches = length_buckets(trainer.durations, batch_seconds, train.seed, epoch=1)
    width = trainer.config.model.input_dim
    generator = torch.Generator().manual_seed(0)
    audio = 0.0
    for index, batch in enumerate(itertools.islice(itertools.cycle(batches), steps + 3)):
        if index == 3:  # the first steps pay for cuDNN plans and allocator growth
            if trainer.device.type == "cuda":
                torch.cuda.synchronize()
            start, audio = time.perf_counter(), 0.0
        lengths = [max(1, round(trainer.durations[i] / trainer.step_seconds)) for i in batch]
        items = [
            (torch.randn(frames, width, generator=generator), trainer.dataset.targets[i])
            for i, frames in zip(batch, lengths, strict=True)
        ]
        trainer.train_step(collate(items))  # reads the loss back, so the step has finished
        audio += sum(trainer.durations[i] for i in batch)
    return audio / (time.perf_counter() - start)


def loader_speed(trainer: Trainer, batch_seconds: float, workers: int, batches: int) -> float:
    """Audio seconds per wall second that ``workers`` loader processes deliver, augmentation on.

    Timed from the loader's start, process start-up included: workers prefetch, so a clock
    started later would count batches made before it started.
    """
    train = trainer.config.train
    plan = length_buckets(trainer.durations, batch_seconds, train.seed, epoch=1)[:batches]
    trainer.dataset.set_epoch(1, augment=True)
    loader = torch.utils.data.DataLoader(trainer.dataset, batch_sampler=plan, collate_fn=collate, num_workers=workers)
    start = time.perf_counter()
    audio = sum(float(lengths.sum()) * trainer.step_seconds for _, lengths, _, _ in loader)
    return audio / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", type=Path, help="training manifest (from asr synth or an importer)")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "train" / "default.toml")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-seconds", type=float, nargs="+", default=[100.0, 200.0, 400.0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1], help="loader processes to try")
    parser.add_argument("--steps", type=int, default=20, help="timed model steps per batch size")
    parser.add_argument("--batches", type=int, default=40, help="timed loader batches per worker count")
    args = parser.parse_args()

    config = load_config(args.config)
    train = dataclasses.replace(config.train, train_manifest=str(args.manifest), dev_manifest="", init_from="", cmvn_utterances=20)
    trainer = Trainer(dataclasses.replace(config, train=train), torch.device(args.device))
    print(f"{args.manifest}: {len(trainer.entries)} utterances, device {args.device}, {torch.get_num_threads()} threads")
    print("| part | batch s | workers | audio s per s |\n| --- | --- | --- | --- |")
    for seconds in args.batch_seconds:
        print(f"| model step | {seconds:g} | - | {model_step_speed(trainer, seconds, args.steps):.0f} |", flush=True)
    for workers in args.workers:
        speed = loader_speed(trainer, config.train.batch_seconds, workers, args.batches)
        print(f"| loader | {config.train.batch_seconds:g} | {workers} | {speed:.0f} |", flush=True)


if __name__ == "__main__":
    main()

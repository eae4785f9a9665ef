"""Measure a config's real training speed (augmented batches, this machine) and print how many
epochs fit in a time budget: ``python3 fit_epochs.py CONFIG SECONDS`` (details go to stderr)."""

from __future__ import annotations

import itertools
import math
import sys
import time

import torch

from asr.config import load_config
from asr.train import Trainer

WARMUP_STEPS, MEASURE_SECONDS = 15, 25.0
RESERVE_SECONDS = 60.0  # checkpoints and the final save, outside the measured steps


def main(config_path: str, budget: float) -> int:
    cuda = torch.cuda.is_available()
    trainer = Trainer(load_config(config_path), torch.device("cuda" if cuda else "cpu"))
    trainer.epoch = max(1, trainer.config.train.clean_epochs)  # an augmented, shuffled epoch
    started, audio, steps = 0.0, 0.0, 0
    batches = itertools.chain.from_iterable(trainer.epoch_loader() for _ in itertools.count())  # a small corpus repeats
    for index, batch in enumerate(batches):
        trainer.train_step(batch)
        if index == WARMUP_STEPS:
            started = time.time()
        elif index > WARMUP_STEPS:
            audio, steps = audio + float(batch[1].sum()) * trainer.step_seconds, steps + 1
            if time.time() - started > MEASURE_SECONDS:
                break
    elapsed = time.time() - started
    rate = audio / elapsed
    scoring = time.time()
    trainer.dev_wer()  # every epoch ends with one
    epoch_seconds = sum(trainer.durations) / rate + time.time() - scoring
    epochs = max(1, math.floor((budget - RESERVE_SECONDS) / epoch_seconds))
    print(f"{rate:.0f} audio s/s, {steps / elapsed:.1f} steps/s, {epoch_seconds:.0f} s per epoch -> {epochs} epochs", file=sys.stderr)
    return epochs


if __name__ == "__main__":
    print(main(sys.argv[1], float(sys.argv[2])))

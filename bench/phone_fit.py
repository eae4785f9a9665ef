#!/usr/bin/env python3
"""How well a phone model fits speech with phone labels: greedy phone error rate and CTC loss, per engine.

    .venv/bin/python bench/phone_fit.py /work/corpus20/train-v20.jsonl --per-engine 25
    .venv/bin/python bench/phone_fit.py /work/corpus8/dev.jsonl --model models/en-phone-v20 --model models/en-phone-v22

Scored on a manifest's clean rows that carry ``phones`` (what the synthesizer said), unaugmented:
on the training manifest it tells whether a network has learnt its own training speech, and beside
the same numbers on dev (unseen sentences, the training voices) whether it overfits or underfits.
``--per-engine`` draws that many rows per engine (the voice's part before the colon) with
``--seed``, the same rows for every model. The phone error rate is the edit distance between the
best path (blanks and repeats removed) and the label, in phones, without the word boundaries;
the loss is CTC's negative log-likelihood of the label, boundaries included, per label token.
Each file is one forward pass over its whole length, on ``--threads`` torch threads.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import defaultdict
from pathlib import Path

import jiwer
import torch
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asr.checkpoint import Checkpoint, load_checkpoint, resolve_model_path  # noqa: E402
from asr.data.manifest import ManifestEntry, read_manifest  # noqa: E402
from asr.features import LogMel  # noqa: E402
from asr.offline import file_log_probs  # noqa: E402
from asr.phones import BOUNDARY  # noqa: E402

ALL = "all"
UNKNOWN = "unknown"  # the group of rows without a voice


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", type=Path, help="a JSON Lines manifest whose rows carry phones")
    parser.add_argument("--model", action="append", default=None, help="checkpoint, folder or name under models/; repeat to compare (default: the shipped model)")
    parser.add_argument("--per-engine", type=int, default=0, help="rows drawn per engine (default 0: every clean labelled row)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the --per-engine draw")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    return parser.parse_args(argv)


def labelled_rows(entries: list[ManifestEntry], per_engine: int, seed: int) -> list[ManifestEntry]:
    """The clean rows with phones; with ``per_engine`` > 0, that many drawn per engine, engines in name order."""
    by_engine: dict[str, list[ManifestEntry]] = defaultdict(list)
    for entry in entries:
        if entry.phones and entry.condition in (None, "clean"):
            by_engine[entry.engine or UNKNOWN].append(entry)
    if per_engine <= 0:
        return [entry for engine in sorted(by_engine) for entry in by_engine[engine]]
    rng = random.Random(seed)
    return [entry for engine in sorted(by_engine) for entry in rng.sample(by_engine[engine], min(per_engine, len(by_engine[engine])))]


def score(checkpoint: Checkpoint, rows: list[ManifestEntry], name: str) -> dict[str, tuple[float, float, int]]:
    """engine (and ``ALL``) -> (phone error rate %, CTC loss per label token, rows)."""
    logmel = LogMel(checkpoint.features)
    references: dict[str, list[str]] = defaultdict(list)
    hypotheses: dict[str, list[str]] = defaultdict(list)
    losses: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for entry in tqdm(rows, desc=name, unit="file"):
        log_probs = file_log_probs(checkpoint, entry.audio, logmel)  # (T, V)
        target = torch.tensor(checkpoint.tokenizer.encode(entry.phones))
        loss = torch.nn.functional.ctc_loss(
            log_probs[:, None], target[None], torch.tensor([log_probs.shape[0]]), torch.tensor([target.numel()]),
            blank=checkpoint.tokenizer.blank_id, reduction="sum", zero_infinity=True,
        )
        reference = " ".join(phone for phone in entry.phones.split() if phone != BOUNDARY)
        best = checkpoint.tokenizer.collapse(log_probs.argmax(dim=-1).tolist())
        hypothesis = " ".join(phone for phone in checkpoint.tokenizer.decode(best).split() if phone != BOUNDARY)
        for group in (entry.engine or UNKNOWN, ALL):
            references[group].append(reference)
            hypotheses[group].append(hypothesis)
            losses[group][0] += float(loss)
            losses[group][1] += target.numel()
    return {
        group: (100 * jiwer.wer(references[group], hypotheses[group]), losses[group][0] / losses[group][1], len(references[group]))
        for group in references
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = labelled_rows(read_manifest(args.manifest), args.per_engine, args.seed)
    if not rows:
        sys.exit(f"{args.manifest}: no clean rows with phones to score")
    names = args.model or [None]
    results = {}
    for model in names:
        checkpoint = load_checkpoint(resolve_model_path(model))
        if checkpoint.tokenizer.units != "phones":
            sys.exit(f"{model}: a {checkpoint.tokenizer.units} model; this bench scores phone models")
        results[model or "default"] = score(checkpoint, rows, str(model or "default"))
    groups = sorted({group for result in results.values() for group in result if group != ALL}) + [ALL]
    print("| engine | files | " + " | ".join(f"{name} PER % / loss" for name in results) + " |")
    print("| --- | ---: |" + " ---: |" * len(results))
    for group in groups:
        files = next(result[group][2] for result in results.values() if group in result)
        cells = [f"{result[group][0]:.1f} / {result[group][1]:.3f}" if group in result else "-" for result in results.values()]
        print(f"| {group} | {files} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

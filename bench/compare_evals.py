#!/usr/bin/env python3
"""Is one model measurably better than another? A paired bootstrap over two `asr eval --json` reports.

    .venv/bin/asr eval /work/corpus8/test.jsonl --model models/en-phone-v25 --reference none --json a.json
    .venv/bin/asr eval /work/corpus8/test.jsonl --model /work/exp/w2048 --reference none --json b.json
    .venv/bin/python bench/compare_evals.py a.json b.json

Both reports must have scored the same files (matched by audio path and condition). Per condition
and overall, the table gives each report's word errors, their difference (B minus A: negative when
B makes fewer) and how often B made fewer errors than A over ``--resamples`` bootstrap draws of
the utterances (Koehn 2004's paired bootstrap): near 1 (or 0) the difference holds up when the
test set is drawn again; near 0.5 it is noise. Each report's first system is compared unless
``--system`` names another.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jiwer
import numpy as np

OVERALL = "overall"


@dataclass(frozen=True)
class PairedErrors:
    """Word errors of two systems on the same utterances. Shapes: (utterances,)."""

    reference_words: np.ndarray
    errors_a: np.ndarray
    errors_b: np.ndarray


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report_a", type=Path, help="`asr eval --json` output of the baseline")
    parser.add_argument("report_b", type=Path, help="`asr eval --json` output of the candidate, on the same files")
    parser.add_argument("--system", default=None, help="system name within both reports (default: each report's first)")
    parser.add_argument("--resamples", type=int, default=10_000, help="bootstrap draws (default 10,000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws")
    return parser.parse_args(argv)


def utterance_errors(report_path: Path, system: str | None) -> dict[tuple[str, str], tuple[int, int]]:
    """(audio, condition) -> (word errors, reference words) of one system in an `asr eval --json` report."""
    try:
        report: dict[str, Any] = json.loads(report_path.read_text())
        name = system or report["systems"][0]
        if name not in report["systems"]:
            raise ValueError(f"{report_path}: no system {name!r}; it has {', '.join(report['systems'])}")
        errors = {}
        for utterance in report["utterances"]:
            reference, hypothesis = utterance["reference"], utterance["hypotheses"][name]
            words = len(reference.split())
            if words:
                errors[(utterance["audio"], utterance["condition"])] = (word_errors(reference, hypothesis), words)
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{report_path}: not an `asr eval --json` report ({type(error).__name__}: {error})") from error
    return errors


def word_errors(reference: str, hypothesis: str) -> int:
    """Substitutions, deletions and insertions turning ``reference`` into ``hypothesis`` (normalized text; an empty
    hypothesis deletes every reference word)."""
    output = jiwer.process_words(reference, hypothesis)
    return output.substitutions + output.deletions + output.insertions


def pair(errors_a: dict[tuple[str, str], tuple[int, int]], errors_b: dict[tuple[str, str], tuple[int, int]]) -> dict[str, PairedErrors]:
    """Both systems' errors per condition and ``OVERALL``, on the utterances both scored (ValueError otherwise)."""
    if errors_a.keys() != errors_b.keys():
        only_a, only_b = sorted(errors_a.keys() - errors_b.keys()), sorted(errors_b.keys() - errors_a.keys())
        example = (only_a or only_b)[0]
        raise ValueError(
            f"the reports scored different files: {len(only_a)} only in the first, {len(only_b)} only in the second "
            f"(e.g. {example[0]}, {example[1]})"
        )
    if not errors_a:
        raise ValueError("the reports have no utterance with reference words to compare")
    keys = list(errors_a)  # the first report's order
    groups = {condition: [k for k in keys if k[1] == condition] for condition in dict.fromkeys(k[1] for k in keys)}
    groups[OVERALL] = keys
    return {
        name: PairedErrors(
            reference_words=np.array([errors_a[k][1] for k in group]),
            errors_a=np.array([errors_a[k][0] for k in group]),
            errors_b=np.array([errors_b[k][0] for k in group]),
        )
        for name, group in groups.items()
    }


def probability_b_better(paired: PairedErrors, resamples: int, rng: np.random.Generator, max_indices: int = 10_000_000) -> float:
    """Share of bootstrap draws of the utterances (with replacement, as many as there are) where B makes fewer errors.

    The draws are made in blocks of at most ``max_indices`` utterance indices (80 MB at the default).
    """
    difference = paired.errors_b - paired.errors_a
    block = max(1, max_indices // len(difference))
    wins = 0
    for start in range(0, resamples, block):
        draws = rng.integers(0, len(difference), size=(min(block, resamples - start), len(difference)))
        wins += int(np.count_nonzero(difference[draws].sum(axis=1) < 0))
    return wins / resamples


def comparison_table(groups: dict[str, PairedErrors], resamples: int, seed: int) -> str:
    """Markdown: per condition, words, each system's errors and WER, B minus A, and P(B better)."""
    rng = np.random.default_rng(seed)
    lines = [
        "| condition | utterances | words | A errors (WER %) | B errors (WER %) | B − A | P(B better) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, paired in groups.items():
        words, a, b = int(paired.reference_words.sum()), int(paired.errors_a.sum()), int(paired.errors_b.sum())
        lines.append(
            f"| {name} | {len(paired.reference_words)} | {words} | {a} ({100 * a / words:.1f}) | {b} ({100 * b / words:.1f}) "
            f"| {b - a:+d} | {probability_b_better(paired, resamples, rng):.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.resamples < 1:
        sys.exit("--resamples must be at least 1")
    try:
        groups = pair(utterance_errors(args.report_a, args.system), utterance_errors(args.report_b, args.system))
    except ValueError as error:
        sys.exit(f"error: {error}")
    print(f"A: {args.report_a}\nB: {args.report_b}\n")
    print(comparison_table(groups, args.resamples, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

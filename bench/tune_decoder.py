#!/usr/bin/env python3
"""Tune the lexicon search's weights on a dev manifest: the model runs once, the search many times.

    .venv/bin/python bench/tune_decoder.py corpus/dev.jsonl --model models/NAME --lm-weights 0.5 1 1.5 2 --word-scores -1 0 1
    .venv/bin/python bench/tune_decoder.py corpus/dev.jsonl --beam-sizes 50 100 200 --limit 300 --markdown

Each file's log-probs are computed once (the whole file in one pass), then, for every combination
of ``--beam-sizes``, ``--beam-thresholds``, ``--tokens-per-step``, ``--lm-weights``,
``--word-scores``, ``--prior-weights`` and ``--history-steps``, cut and searched by the engine's own
Segmenter (asr/segmenter.py), utterance by utterance. It prints WER and the search's own time per
combination (endpointing included), best first. Tune on dev (training voices, unseen sentences), never on test.
The search holds Python's interpreter lock, so the combinations are shared out to ``--processes``
worker processes (asr/worker_pool.py; default one per core), each searching every file on one core.
``--priors`` estimates the model's token priors on other dev files (asr/priors.py) for ``--prior-weights``;
without it, the priors its decoder.json holds are used.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import jiwer
import numpy as np
import torch
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asr.beam import BeamDecoder  # noqa: E402
from asr.checkpoint import load_checkpoint, resolve_model_path  # noqa: E402
from asr.config import BeamConfig, DecoderConfig  # noqa: E402
from asr.data.manifest import read_manifest  # noqa: E402
from asr.decoders import build_decoder, tuned_search  # noqa: E402
from asr.decoding import Decoder, Emissions  # noqa: E402
from asr.endpoint import EndpointConfig  # noqa: E402
from asr.features import LogMel  # noqa: E402
from asr.offline import file_log_probs  # noqa: E402
from asr.priors import estimate_token_priors  # noqa: E402
from asr.segmenter import Segmenter  # noqa: E402
from asr.tokens import Tokenizer, normalize_text  # noqa: E402
from asr.worker_pool import run_in_processes, usable_cores  # noqa: E402

Setting = tuple[int, float, int, float, float, float, int]  # beam, threshold, tokens per step, LM weight, word score, prior weight, history steps
Row = tuple[float, int, float, int, float, float, float, int, float]  # WER, the setting, the search's CPU seconds


def transcribe(decoder: Decoder, emissions: Emissions, step_seconds: float, blank_id: int) -> str:
    """The file's text as the engine makes it: cut at its endpoints, each utterance searched on its own."""
    segmenter = Segmenter(decoder, EndpointConfig(), step_seconds, blank_id=blank_id)
    segments = [*segmenter.advance(emissions), segmenter.finish(len(emissions) * step_seconds)]
    return " ".join(segment.transcript.text for segment in segments if segment.transcript.text)


@dataclass(frozen=True)
class TuningSet:
    """What every search of the grid needs: the files' log-probs and references, and how to build a decoder.

    The log-probs are numpy arrays: torch tensors would travel to the worker processes through shared memory.
    """

    log_probs: list[np.ndarray]  # [file] (T, V)
    references: list[str]
    tokenizer: Tokenizer
    step_seconds: float
    model_folder: Path
    lm: str | None
    lexicon: str | None
    token_priors: tuple[float, ...]


Prepared = tuple[TuningSet, list[Emissions], BeamDecoder]


def prepared(tuning: TuningSet) -> Prepared:
    """The set with each file's emissions and a decoder (its LM loaded), made once per process (a worker process's "build")."""
    decoder = build_decoder(tuning.tokenizer, tuning.step_seconds, tuning.model_folder, DecoderConfig(method="lexicon", lm=tuning.lm, lexicon=tuning.lexicon))
    assert isinstance(decoder, BeamDecoder)
    return tuning, [Emissions.of(torch.from_numpy(log_probs)) for log_probs in tuning.log_probs], decoder


def searched(ready: Prepared, setting: Setting) -> Iterator[Row]:
    """One row: WER over the set with this search setting, and the search's CPU seconds."""
    tuning, emitted, loaded = ready
    beam_size, threshold, tokens, lm_weight, word_score, prior_weight, history_steps = setting
    beam = BeamConfig(
        beam_size=beam_size, beam_threshold=threshold, tokens_per_step=tokens, lm_weight=lm_weight, word_score=word_score,
        prior_weight=prior_weight, token_priors=tuning.token_priors, history_steps=history_steps,
    )  # fmt: skip
    decoder = loaded.with_beam(beam)
    started = time.process_time()
    hypotheses = [transcribe(decoder, emissions, tuning.step_seconds, tuning.tokenizer.blank_id) for emissions in emitted]
    yield (jiwer.wer(tuning.references, hypotheses), *setting, time.process_time() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", type=Path, help="a dev manifest (JSON Lines with text)")
    parser.add_argument("--model", default=None, help="checkpoint, folder or name under models/ (default: the shipped model)")
    parser.add_argument("--lm", default=None, help="ARPA LM (default: the one beside the model)")
    parser.add_argument("--lexicon", default=None, help="a phone model's lexicon (default: the one beside the model)")
    tuned = "(default: the model's own, from its decoder.json)"
    parser.add_argument("--beam-sizes", type=int, nargs="+", help=tuned)
    parser.add_argument("--beam-thresholds", type=float, nargs="+", help=tuned)
    parser.add_argument("--tokens-per-step", type=int, nargs="+", help=tuned)
    parser.add_argument("--lm-weights", type=float, nargs="+", help=tuned)
    parser.add_argument("--word-scores", type=float, nargs="+", help=tuned)
    parser.add_argument("--prior-weights", type=float, nargs="+", help=tuned)
    parser.add_argument(
        "--history-steps", type=int, nargs="+",
        help=f"steps of alternatives a search keeps before it settles the best path's older words; 0: all (default: {BeamConfig.history_steps})",
    )  # fmt: skip
    parser.add_argument("--priors", type=Path, default=None, help="a manifest to estimate the token priors on (other files than the tuned ones; default: the model's decoder.json)")
    parser.add_argument("--limit", type=int, default=None, help="the first N files only")
    parser.add_argument("--processes", type=int, default=None, help="worker processes that search the combinations (default: one per core, at most one per combination)")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    if args.processes is not None and args.processes < 1:
        parser.error(f"--processes must be at least 1, got {args.processes}")

    path = resolve_model_path(args.model)
    checkpoint = load_checkpoint(path)
    step_seconds = checkpoint.model.config.stack_frames * checkpoint.features.hop_length / checkpoint.features.sample_rate
    logmel = LogMel(checkpoint.features)
    entries = [e for e in read_manifest(args.manifest) if e.text][: args.limit]
    log_probs = [file_log_probs(checkpoint, entry.audio, logmel).numpy() for entry in tqdm(entries, desc="log-probs", unit="file")]
    own = tuned_search(path.parent)
    priors = estimate_token_priors(checkpoint, args.priors) if args.priors else own.token_priors
    tuning = TuningSet(log_probs, [normalize_text(str(e.text)) for e in entries], checkpoint.tokenizer, step_seconds, path.parent, args.lm, args.lexicon, tuple(priors))
    grid: list[Setting] = list(itertools.product(
        args.beam_sizes or [own.beam_size], args.beam_thresholds or [own.beam_threshold], args.tokens_per_step or [own.tokens_per_step],
        args.lm_weights or [own.lm_weight], args.word_scores or [own.word_score], args.prior_weights or [own.prior_weight],
        args.history_steps or [own.history_steps],
    ))  # fmt: skip
    processes = min(args.processes or usable_cores(), len(grid))
    if processes == 1:
        ready = prepared(tuning)
        results: Iterator[Row] = (row for setting in grid for row in searched(ready, setting))
    else:
        results = (row for _, row in run_in_processes(partial(prepared, tuning), searched, grid, processes))
    rows = list(tqdm(results, total=len(grid), desc=f"searches in {processes} processes" if processes > 1 else "searches", unit="setting"))
    header = ("WER %", "beam", "threshold", "tokens/step", "LM weight", "word score", "prior weight", "history steps", "search CPU s")
    lines = [[f"{100 * wer:.2f}", str(b), f"{h:g}", str(k), f"{w:g}", f"{s:g}", f"{p:g}", str(y), f"{t:.1f}"] for wer, b, h, k, w, s, p, y, t in sorted(rows)]
    print(f"{len(entries)} files of {args.manifest}")
    if args.markdown:
        print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        print("\n".join("| " + " | ".join(line) + " |" for line in lines))
    else:
        for line in [list(header), *lines]:
            print("  ".join(f"{cell:>12}" for cell in line))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""What streaming beam search adds to one live stream's CPU cost, and what it buys, in one run.

    .venv/bin/python bench/beam_cost.py corpus/test.jsonl --markdown
    .venv/bin/python bench/beam_cost.py corpus/test.jsonl --beam-sizes 50 100 200 --limit 300
    .venv/bin/python bench/beam_cost.py corpus/test.jsonl --precisions float32 int8 --limit 300

Every file of the manifest is streamed in ``--chunk-ms`` chunks, as ``asr mic`` and a server
session stream it: resampling, log-mel features, the LSTM step, endpointing and decoding, with
the partial text of every step. Each system is the same engine with another decoder: greedy
(character models only) and the lexicon search with the word LM at each ``--beam-sizes``, with
the model at each of ``--precisions`` (float32, or int8 on the CPU). Audio is read before timing. CPU time is the process's
(``time.process_time``) on ``--threads`` torch threads, 1 by default: one stream on one core.
The systems take turns file by file, and each file's time is its fastest of ``--repeats``
rounds, so a busy spell on a shared machine lands on every system alike and is mostly
filtered out. WER is over the segments' finals.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import replace
from pathlib import Path

import jiwer
import torch
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asr.audio import load_audio  # noqa: E402
from asr.checkpoint import load_checkpoint, resolve_model_path  # noqa: E402
from asr.config import PRECISIONS, DecoderConfig  # noqa: E402
from asr.data.manifest import read_manifest  # noqa: E402
from asr.decoders import tuned_search  # noqa: E402
from asr.endpoint import EndpointConfig  # noqa: E402
from asr.stream import StreamingRecognizer, resolve_precision  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", type=Path, help="a JSON Lines manifest with audio and text")
    parser.add_argument("--model", default=None, help="checkpoint, folder or name under models/ (default: the shipped model)")
    parser.add_argument("--lm", default=None, help="ARPA LM (default: the one beside the model)")
    parser.add_argument("--lexicon", default=None, help="a phone model's lexicon (default: the one beside the model)")
    parser.add_argument("--chunk-ms", type=int, default=100, help="audio per step, as a live client sends it")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; each system keeps its fastest")
    parser.add_argument("--limit", type=int, default=None, help="use the first N files only")
    tuned = "default: the model's tuned value (its decoder.json)"
    parser.add_argument("--beam-sizes", type=int, nargs="+", default=None, help=f"one beam system per size ({tuned})")
    parser.add_argument(
        "--precisions", nargs="+", choices=PRECISIONS, default=["auto"], help="the model's arithmetic (auto: what the products run here); give several to compare them"
    )
    parser.add_argument("--tokens-per-step", type=int, default=None, help=tuned)
    parser.add_argument("--beam-threshold", type=float, default=None, help=tuned)
    parser.add_argument("--lm-weight", type=float, default=None, help=tuned)
    parser.add_argument("--word-score", type=float, default=None, help=tuned)
    parser.add_argument("--prior-weight", type=float, default=None, help=f"{tuned}; other than 0 only for a model with token priors")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    return parser.parse_args(argv)


def stream_file(recognizer: StreamingRecognizer, audio: torch.Tensor, chunk: int) -> str:
    """Stream one file as a live client would (the partial comes with every step); return its text."""
    stream = recognizer.create_stream(endpoint=EndpointConfig())
    finals = []
    for start in range(0, audio.numel(), chunk):
        stream.feed(audio[start : start + chunk])
        finals += [segment.transcript.text for segment in recognizer.step([stream])[0].ended]
    stream.end_input()
    finals += [segment.transcript.text for segment in recognizer.step([stream])[0].ended]
    return " ".join(text for text in finals if text)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    entries = read_manifest(args.manifest)[: args.limit]
    audios = [load_audio(args.manifest.parent / entry.audio) for entry in entries]
    references = [entry.text or "" for entry in entries]
    hours = sum(audio.numel() for audio in audios) / 16000 / 3600
    path = resolve_model_path(args.model)
    checkpoint = load_checkpoint(path)  # one model, shared by every system
    systems: dict[str, StreamingRecognizer] = {}
    precisions = dict.fromkeys(resolve_precision(precision, torch.device("cpu")) for precision in args.precisions)  # auto named as what it runs
    if checkpoint.tokenizer.units == "characters":
        for precision in precisions:
            systems[f"greedy, {precision}"] = StreamingRecognizer(checkpoint, "cpu", DecoderConfig(method="greedy"), path.parent, precision)
    given = {
        "tokens_per_step": args.tokens_per_step, "beam_threshold": args.beam_threshold, "lm_weight": args.lm_weight,
        "word_score": args.word_score, "prior_weight": args.prior_weight,
    }  # fmt: skip
    search = tuned_search(path.parent, **{name: value for name, value in given.items() if value is not None})
    for size, precision in itertools.product(args.beam_sizes or [search.beam_size], precisions):
        beam = replace(search, beam_size=size)
        decoder = DecoderConfig(method="lexicon", lm=args.lm, lexicon=args.lexicon, beam=beam)
        systems[f"beam {size} + LM, {precision}"] = StreamingRecognizer(checkpoint, "cpu", decoder, path.parent, precision)
    chunk = 16000 * args.chunk_ms // 1000
    for audio in audios[:5]:  # warm-up
        for recognizer in systems.values():
            stream_file(recognizer, audio, chunk)

    names = list(systems)
    cpu = {name: [float("inf")] * len(audios) for name in names}  # each file's fastest round
    texts = {name: [""] * len(audios) for name in names}
    for round_number in range(args.repeats):
        for index, audio in enumerate(tqdm(audios, desc=f"round {round_number + 1}/{args.repeats}", unit="file")):
            for name in names[index % len(names) :] + names[: index % len(names)]:  # rotate who goes first
                started = time.process_time()
                texts[name][index] = stream_file(systems[name], audio, chunk)
                cpu[name][index] = min(cpu[name][index], time.process_time() - started)

    baseline = names[0]  # greedy for a character model, else the first beam size, at the first precision
    greedy_cpu, greedy_wer = sum(cpu[baseline]), jiwer.wer(references, texts[baseline])
    print(f"{len(audios)} files, {hours:.3f} h, {args.chunk_ms} ms chunks, {args.threads} thread(s); beam search: "
          f"{search.tokens_per_step} tokens per step, threshold {search.beam_threshold:g}, LM weight {search.lm_weight:g}, word score {search.word_score:g}, "
          f"prior weight {search.prior_weight:g}")  # fmt: skip
    rows = []
    for name in names:
        wer, seconds = jiwer.wer(references, texts[name]), sum(cpu[name])
        rows.append((
            name, f"{100 * wer:.1f}", f"{100 * (1 - wer / greedy_wer):.1f}%", f"{seconds:.2f}",
            f"{hours * 3600 / seconds:.0f}x", f"{100 * (seconds / greedy_cpu - 1):+.1f}%",
        ))  # fmt: skip
    header = ("system", "WER %", "relative WER cut", "CPU s", "real time per CPU s", "added CPU")
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        for row in [header, *rows]:
            print("  ".join(f"{cell:>20}" for cell in row))


if __name__ == "__main__":
    main()

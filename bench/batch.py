#!/usr/bin/env python3
"""Batch transcription speed: the same files at several batch sizes, side by side in one run.

    .venv/bin/python bench/batch.py corpus/test.jsonl                 # default model, batch 1 16 32 64
    .venv/bin/python bench/batch.py calls/ --batch-sizes 1 32 --device cuda

For each worker count and batch size it runs ``transcribe_many`` (the engine behind ``asr transcribe``) over
every input, reading and decoding included, and prints audio hours, wall time, the speed in
x real time and the peak resident memory so far. Batch size 1 is one file at a time. The model
is loaded once, before timing; the first run is preceded by a short warm-up.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asr.config import PRECISIONS  # noqa: E402
from asr.stream import StreamingRecognizer  # noqa: E402
from asr.inputs import InputFile, collect_inputs, input_duration  # noqa: E402
from asr.transcribe import BLOCK_SECONDS, transcribe_many  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="audio files, folders, globs or manifests, as for asr transcribe")
    parser.add_argument("--model", default=None, help="checkpoint, folder or name under models/ (default: the shipped model)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help="the model's arithmetic (default: auto, as asr transcribe)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 32, 64])
    parser.add_argument("--block-seconds", type=float, default=None, help="audio per file per step (default: asr transcribe's)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0], help="decoding processes (each count is a run)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    return parser.parse_args(argv)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def run(recognizer: StreamingRecognizer, items: list[InputFile], batch_size: int, block_seconds: float = BLOCK_SECONDS, workers: int = 0) -> tuple[float, int]:
    """Wall seconds for transcribing every item, and how many failed."""
    started = time.perf_counter()
    results = transcribe_many(recognizer, items, batch_size, block_seconds, workers)
    failed = sum(isinstance(result, Exception) for _, result in results)
    if recognizer.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started, failed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    items = [item for item in collect_inputs(args.paths) if isinstance(item, InputFile)]
    if not items:
        print("error: no audio files in the given paths", file=sys.stderr)
        return 2
    hours = sum(input_duration(item) for item in items) / 3600
    recognizer = StreamingRecognizer.from_pretrained(args.model, device=args.device, precision=args.precision)
    run(recognizer, items[:4], 4)  # warm-up: first calls allocate
    rows = []
    for workers in args.workers:
        for batch_size in args.batch_sizes:
            seconds, failed = run(recognizer, items, batch_size, args.block_seconds or BLOCK_SECONDS, workers)
            speed = hours * 3600 / seconds
            rows.append([str(batch_size), str(workers), f"{len(items)}", f"{hours:.3f}", f"{seconds:.1f}", f"{speed:.0f}", f"{peak_rss_mb():.0f}", str(failed)])
            print(f"batch {batch_size}, {workers} workers: {speed:.0f}x real time", file=sys.stderr)
    header = ["batch size", "workers", "files", "audio h", "wall s", "x real time", "peak RSS MB", "failed"]
    print(f"device {recognizer.device}, {torch.get_num_threads()} threads, model {args.model or 'default'}")
    if args.markdown:
        print("| " + " | ".join(header) + " |\n|" + " --- |" * len(header))
        print("\n".join("| " + " | ".join(row) + " |" for row in rows))
    else:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        for row in [header, *rows]:
            print("  ".join(cell.rjust(width) for cell, width in zip(row, widths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

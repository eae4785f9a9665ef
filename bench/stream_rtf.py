"""Streaming speed for a model size: one stream's real-time factor, and batched throughput.

Runs the full engine (log-mel, stacking, LSTM, greedy decoding) the way the server does:
each stream receives one chunk per step and all streams are stepped as one batch.

    .venv/bin/python bench/stream_rtf.py                        # default model size
    .venv/bin/python bench/stream_rtf.py --config configs/model/tiny.toml --streams 1 8
    .venv/bin/python bench/stream_rtf.py --device cuda --streams 1 256 1024 2048

Weights are random (speed does not depend on them); pass --model to time a real checkpoint.
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from pathlib import Path

import torch

from asr.checkpoint import random_checkpoint
from asr.config import load_config
from asr.stream import StreamingRecognizer

ROOT = Path(__file__).resolve().parent.parent


def test_signal(seconds: float, seed: int) -> torch.Tensor:
    """Speech-like audio: a gliding harmonic tone with syllable-rate amplitude plus noise."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * 16000)) / 16000
    phase = 2 * math.pi * torch.cumsum(130 + 40 * torch.sin(2 * math.pi * 0.7 * t), 0) / 16000
    voiced = sum(torch.sin(k * phase) / k for k in range(1, 6))
    envelope = 0.5 + 0.5 * torch.sin(2 * math.pi * 4 * t + seed)
    return (0.2 * voiced * envelope + 0.01 * torch.randn(t.numel(), generator=generator)).float()


def run_streams(recognizer: StreamingRecognizer, count: int, seconds: float, chunk_ms: int) -> float:
    """Step ``count`` streams, ``chunk_ms`` each per step, for ``seconds`` of audio; return wall seconds."""
    chunk = 16000 * chunk_ms // 1000
    signals = [test_signal(seconds, seed) for seed in range(min(count, 8))]
    streams = [recognizer.create_stream() for _ in range(count)]
    steps = math.ceil(signals[0].numel() / chunk)
    start = time.perf_counter()
    for step in range(steps):
        for index, stream in enumerate(streams):
            stream.feed(signals[index % len(signals)][step * chunk : (step + 1) * chunk])
        recognizer.step(streams)  # each stream's output carries its partial, as a live client gets it
    for stream in streams:
        stream.end_input()
    recognizer.step(streams)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "model" / "default.toml")
    parser.add_argument("--model", default=None, help="time this checkpoint instead of random weights")
    parser.add_argument("--chunk-ms", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per stream in the single-stream run")
    parser.add_argument("--batch-seconds", type=float, default=10.0, help="audio per stream in the batched runs")
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 8, 64, 256])
    parser.add_argument("--batch-threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (the model runs there; features stay on the CPU)")
    args = parser.parse_args()

    if args.model:  # a trained model with its decoder: the lexicon search when it ships an LM
        recognizer = StreamingRecognizer.from_pretrained(args.model, device=args.device)
    else:
        recognizer = StreamingRecognizer(random_checkpoint(load_config(args.config)), device=args.device)
    config = recognizer.model.config
    parameters = sum(p.numel() for p in recognizer.model.parameters())
    print(
        f"model: {config.layers} x LSTM({config.hidden}, proj {config.proj}), stack {config.stack_frames}, "
        f"lookahead {config.lookahead_frames * 10} ms, {parameters / 1e6:.2f} M parameters, decoder {recognizer.decoder.name}"
    )
    device = torch.cuda.get_device_name(recognizer.device) if recognizer.device.type == "cuda" else platform.processor() or platform.machine()
    print(f"device: {device}, torch {torch.__version__}, chunk {args.chunk_ms} ms\n")

    torch.set_num_threads(1)
    run_streams(recognizer, 1, 2.0, args.chunk_ms)  # warm-up
    wall = run_streams(recognizer, 1, args.seconds, args.chunk_ms)
    print("| run | threads | audio | wall | RTF | x real time |")
    print("|---|---|---|---|---|---|")
    print(f"| 1 stream, {args.chunk_ms} ms chunks | 1 | {args.seconds:.0f} s | {wall:.2f} s | {wall / args.seconds:.4f} | {args.seconds / wall:.0f} |")

    torch.set_num_threads(args.batch_threads)
    print("\n| streams in one batch | threads | audio (total) | wall | aggregate x real time | per-step latency |")
    print("|---|---|---|---|---|---|")
    for count in args.streams:
        run_streams(recognizer, count, 1.0, args.chunk_ms)  # warm-up at this batch size
        wall = run_streams(recognizer, count, args.batch_seconds, args.chunk_ms)
        audio = count * args.batch_seconds
        steps = math.ceil(args.batch_seconds * 1000 / args.chunk_ms)
        print(f"| {count} | {args.batch_threads} | {audio:.0f} s | {wall:.2f} s | {audio / wall:.0f} | {1000 * wall / steps:.1f} ms |")


if __name__ == "__main__":
    main()

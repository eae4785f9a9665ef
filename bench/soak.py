#!/usr/bin/env python3
"""Soak test for `asr serve`: many real-time streams for a long time; is memory flat and latency steady?

N clients each stream a speech clip in real time over the native protocol, get the final result,
and reconnect at once, again and again, for --minutes. Every --every seconds the spawned server's
resident memory is read from /proc, and the sessions that ended in that window are summarized:

    .venv/bin/python bench/soak.py                                  # 100 streams, 10 minutes
    .venv/bin/python bench/soak.py --streams 20 --minutes 2 --every 20 --markdown

One row per window: server RSS, p50/p95 partial latency of the chunks sent in it (as bench/load.py
measures it), p95 final latency, sessions finished and errors. The summary gives the RSS growth
from the first window to the last and the error count. It exits 1 on any error, or if the server
does not exit 0 after SIGTERM. The clients and the server share this machine (loopback only).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import (  # noqa: E402
    STAGGER_SECONDS,
    ClientResult,
    ServerProcess,
    format_table,
    make_clip,
    pcm16_chunks,
    percentile,
    raise_fd_limit,
    run_client,
    synthesize,
)


@dataclass
class Window:
    """The sessions that ended in one sampling window, and the server's memory at its end."""

    ended_at: float  # seconds since the soak started
    rss_mb: float
    results: list[ClientResult] = field(default_factory=list)

    def row(self) -> list[str]:
        partial = 1000 * np.array([x for r in self.results for x in r.partial_latencies()])
        final = 1000 * np.array([x for r in self.results if (x := r.final_latency()) is not None])
        errors = sum(r.error is not None for r in self.results)
        cells = [self.ended_at / 60, self.rss_mb, percentile(partial, 50), percentile(partial, 95), percentile(final, 95)]
        return [f"{cells[0]:.1f}", f"{cells[1]:.0f}", *(f"{x:.0f}" for x in cells[2:]), str(len(self.results)), str(errors)]


HEADER = ["minute", "server RSS MB", "partial p50 ms", "partial p95 ms", "final p95 ms", "sessions", "errors"]


async def client_loop(url: str, chunks: list[bytes], start_at: float, until: float, finished: list[ClientResult]) -> None:
    """Sessions back to back, each appended to ``finished`` as it ends, until ``until`` (monotonic)."""
    while start_at < until:
        finished.append(await run_client(url, chunks, start_at))
        start_at = time.monotonic()


async def soak(url: str, chunks: list[bytes], streams: int, seconds: float, every: float, server: ServerProcess) -> list[Window]:
    started = time.monotonic()
    until, finished, windows = started + seconds, [], []
    clients = asyncio.gather(*(client_loop(url, chunks, started + STAGGER_SECONDS * i / streams, until, finished) for i in range(streams)))
    while not clients.done():
        await asyncio.wait([clients], timeout=every)
        taken, finished[:] = list(finished), []
        windows.append(Window(time.monotonic() - started, server.rss_mb(), taken))
        print("  ".join(f"{name} {cell}" for name, cell in zip(HEADER, windows[-1].row())), file=sys.stderr, flush=True)
    await clients
    return windows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=100, help="concurrent real-time clients (default 100)")
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to soak (default 10)")
    parser.add_argument("--every", type=float, default=60.0, help="seconds per sampling window (default 60)")
    parser.add_argument("--seconds", type=float, default=20.0, help="audio per session, looped or cut from the clip (default 20)")
    parser.add_argument("--audio", type=Path, nargs="+", default=None, help="audio files to stream (joined) instead of synthesized speech")
    parser.add_argument("--model", default=None, help="the server's model (default: the shipped model)")
    parser.add_argument("--decoder", default=None, choices=["auto", "lexicon", "greedy"], help="the server's decoder (default: its own, auto)")
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown")
    args = parser.parse_args(argv)
    if not 1 <= args.streams <= 1000 or args.minutes <= 0 or args.every <= 0 or not 0 < args.seconds <= 300:
        parser.error("need 1-1000 --streams, positive --minutes and --every, and --seconds in (0, 300]")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="asr-soak-") as folder:
        paths = args.audio or synthesize(Path(folder))
        chunks = pcm16_chunks(make_clip(paths, args.seconds), 100)
    raise_fd_limit(args.streams)
    options = ["--max-sessions", str(2 * args.streams + 16)]
    for flag, value in (("--model", args.model), ("--decoder", args.decoder)):
        if value is not None:
            options += [flag, value]
    with ServerProcess(options) as server:
        url = f"ws://127.0.0.1:{server.wait_listening()}/v1/stream"
        print(f"soaking: {args.streams} streams of {args.seconds:g} s sessions for {args.minutes:g} min, model {args.model or 'default'}", file=sys.stderr)
        windows = asyncio.run(soak(url, chunks, args.streams, 60 * args.minutes, args.every, server))
        status = server.stop()
    errors = sum(r.error is not None for w in windows for r in w.results)
    print(format_table([w.row() for w in windows], args.markdown, HEADER))
    print(f"\nserver RSS {windows[0].rss_mb:.0f} MB after the first window, {windows[-1].rss_mb:.0f} MB after the last "
          f"({windows[-1].rss_mb - windows[0].rss_mb:+.0f} MB); {sum(len(w.results) for w in windows)} sessions, {errors} errors; server exit {status}")
    first_error = next((r.error for w in windows for r in w.results if r.error), None)
    if first_error:
        print(f"first error: {first_error}", file=sys.stderr)
    return 1 if errors or status != 0 else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Load test for `asr serve`: how many real-time streams one server sustains, and how fast it answers.

For each stream count N, N clients connect (their starts spread over 1 s) and each streams
the same speech clip in real time, in --chunk-ms chunks paced against a monotonic clock,
over the native protocol (/v1/stream); then it sends stop and waits for the final result.

    .venv/bin/python bench/load.py                                   # spawn a server, N = 25 50 100 150 200
    .venv/bin/python bench/load.py --streams 10 --seconds 5
    .venv/bin/python bench/load.py --device cuda --max-batch 256 --streams 100 500 1000 --markdown
    .venv/bin/python bench/load.py --url ws://127.0.0.1:8765/v1/stream   # a server that already runs

Measured per N:
- partial latency: for each chunk, from the moment it was sent to the arrival of the first
  partial whose audio_end covers the chunk's end (chunks that only the final covers are left out);
- final latency: from sending stop to the arrival of the final result;
- server CPU (spawned server only, from /proc) and this client's CPU, in % of one core;
- errors: clients that failed to connect, got an error message, or got no final result.

The audio is synthesized with espeak-ng (a few English sentences joined by 0.3 s of silence)
unless --audio gives files. The spawned server listens on 127.0.0.1 only, and --url must name a
loopback address: this tool never sends load to another machine. At the end the spawned server
gets SIGTERM and must exit 0. The last line names the largest N whose p95 partial latency is
within --target-ms with no errors.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import ipaddress
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import soundfile
import torch
import torchaudio
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_RATE = 16000
MAX_STREAMS = 1000
MAX_SECONDS = 300.0
STAGGER_SECONDS = 1.0  # client starts spread uniformly over this
GAP_SECONDS = 0.3  # silence between sentences (and at the loop point) by default: shorter than an endpoint's
EPSILON = 1e-3  # the server rounds audio_end to milliseconds
CONNECT_TIMEOUT = 30.0
FINAL_TIMEOUT = 60.0  # after stop, how long a client waits for the final result
STARTUP_TIMEOUT = 120.0
SHUTDOWN_TIMEOUT = 60.0  # the server drains for up to 30 s by default
WARMUP_SECONDS = 1.0  # one client streams this much before the first round: first steps are slow
SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "Streaming speech recognition turns audio into text while the speaker is still talking.",
    "We measured the latency of every partial result under a growing load.",
)


# ---------------------------------------------------------------- audio


def synthesize(folder: Path) -> list[Path]:
    """One WAV per sentence in ``SENTENCES``, spoken by espeak-ng."""
    if shutil.which("espeak-ng") is None:
        raise SystemExit("error: espeak-ng is not on PATH; install it, or pass --audio FILE...")
    paths = []
    for index, sentence in enumerate(SENTENCES):
        path = folder / f"sentence{index}.wav"
        subprocess.run(["espeak-ng", "-w", str(path), sentence], check=True, capture_output=True)
        paths.append(path)
    return paths


def load_mono_16k(path: Path) -> np.ndarray:
    """A file's audio as mono float32 at 16 kHz."""
    try:
        audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (OSError, soundfile.LibsndfileError) as exc:
        raise SystemExit(f"error: cannot read {path}: {exc}") from None
    mono = torch.from_numpy(audio.mean(axis=1))
    if rate != SAMPLE_RATE:
        mono = torchaudio.functional.resample(mono, rate, SAMPLE_RATE)
    return mono.numpy()


def make_clip(paths: list[Path], seconds: float, gap_seconds: float = GAP_SECONDS) -> np.ndarray:
    """The files joined by ``gap_seconds`` of silence, looped or cut to ``seconds``."""
    gap = np.zeros(int(gap_seconds * SAMPLE_RATE), dtype=np.float32)
    clip = np.concatenate([part for path in paths for part in (load_mono_16k(path), gap)])
    return np.resize(clip, int(seconds * SAMPLE_RATE))  # np.resize repeats the clip cyclically


def pcm16_chunks(clip: np.ndarray, chunk_ms: int) -> list[bytes]:
    """The clip as PCM16 little-endian frames of ``chunk_ms`` (the last may be shorter)."""
    pcm = (np.clip(clip, -1.0, 1.0) * 32767).astype("<i2")
    size = SAMPLE_RATE * chunk_ms // 1000
    return [pcm[start : start + size].tobytes() for start in range(0, len(pcm), size)]


# ---------------------------------------------------------------- the server


class ServerProcess:
    """``asr serve`` as a subprocess on a free loopback port; its stderr is drained by a thread."""

    def __init__(self, options: list[str]) -> None:
        env = {k: v for k, v in os.environ.items() if k != "ASR_SERVER_TOKEN"}  # the bench speaks without a token
        command = [sys.executable, "-m", "asr.cli", "serve", "--host", "127.0.0.1", "--port", "0", "--log-format", "json", *options]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace")
        self.listening: dict[str, Any] | None = None
        self.problems: list[str] = []  # warning and error log lines
        self.tail: collections.deque[str] = collections.deque(maxlen=20)
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._drain, name="server-stderr", daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        for line in self.process.stderr:
            self.tail.append(line.rstrip())
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if entry.get("event") == "listening":
                self.listening = entry
                self._ready.set()
            elif entry.get("level") in ("warning", "error", "critical"):
                self.problems.append(line.rstrip())
        self._ready.set()  # the process ended: stop waiting for 'listening'

    def wait_listening(self) -> int:
        """The port, once the server logs 'listening'."""
        if not self._ready.wait(STARTUP_TIMEOUT) or self.listening is None:
            raise SystemExit("error: the server did not start:\n" + "\n".join(self.tail))
        return int(self.listening["port"])

    def _pids(self) -> list[int]:
        """The server's process and its children (``--processes N`` runs the servers as children)."""
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            if parent == self.process.pid:
                children.append(int(stat.parent.name))
        return [self.process.pid, *children]

    def rss_mb(self) -> float:
        """The server's resident memory now, children included, in MB."""
        total = 0
        for pid in self._pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total / 1024

    def cpu_seconds(self) -> float:
        """User + system CPU time the server and its children have used so far."""
        ticks = 0
        for pid in self._pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> int:
        """SIGTERM, wait for the drain; kill it if it hangs. Returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(SHUTDOWN_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(5)
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def server_options(args: argparse.Namespace) -> list[str]:
    options = ["--max-sessions", str(2 * max(args.streams) + 16)]  # room for the previous round's closing sessions
    spawned = (("--model", args.model), ("--device", args.device), ("--precision", args.precision), ("--denoise", args.denoise), ("--decoder", args.decoder), ("--beam-size", args.beam_size), ("--min-beam-size", args.min_beam_size), ("--max-batch", args.max_batch), ("--max-wait-ms", args.max_wait_ms), ("--workers", args.workers), ("--processes", args.processes))
    for flag, value in spawned:
        if value is not None:
            options += [flag, str(value)]
    return options


def loopback_url(url: str) -> str:
    """``url`` with /v1/stream as the default path; refuses anything but a loopback host."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise SystemExit(f"error: --url must start with ws:// or wss://, got {url!r}")
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SystemExit(f"error: --url host {host!r} is not a loopback address; this bench only loads servers on this machine (127.0.0.1, ::1, localhost)")
    return urlunsplit(parts._replace(path=parts.path if parts.path not in ("", "/") else "/v1/stream"))


def raise_fd_limit(streams: int) -> None:
    """Room for one socket per client (the spawned server inherits the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = streams + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard))


# ---------------------------------------------------------------- one client


@dataclass
class ClientResult:
    sends: list[tuple[float, float]] = field(default_factory=list)  # (audio end in seconds, wall time sent)
    partials: list[tuple[float, float]] = field(default_factory=list)  # (audio_end, wall time received)
    stop_sent: float | None = None
    final_at: float | None = None
    error: str | None = None
    max_lag: float = 0.0  # how far the sender fell behind its schedule, in seconds

    def partial_latencies(self) -> list[float]:
        """Per chunk: first covering partial's arrival minus the chunk's send time (seconds)."""
        latencies, index = [], 0
        for audio_end, sent_at in self.sends:
            while index < len(self.partials) and self.partials[index][0] < audio_end - EPSILON:
                index += 1
            if index == len(self.partials):
                break  # the rest is covered by the final only
            latencies.append(self.partials[index][1] - sent_at)
        return latencies

    def final_latency(self) -> float | None:
        return None if self.final_at is None or self.stop_sent is None else self.final_at - self.stop_sent


async def sleep_until(deadline: float) -> None:
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))


async def send_audio(websocket: ClientConnection, chunks: list[bytes], result: ClientResult) -> None:
    """Chunk k goes out at start + k * chunk duration (a schedule, so pacing does not drift); then stop."""
    start, audio_end = time.monotonic(), 0.0
    for chunk in chunks:
        due = start + audio_end
        await sleep_until(due)
        sent_at = time.monotonic()
        result.max_lag = max(result.max_lag, sent_at - due)
        await websocket.send(chunk)
        audio_end += len(chunk) / 2 / SAMPLE_RATE
        result.sends.append((audio_end, sent_at))
    result.stop_sent = time.monotonic()
    await websocket.send(json.dumps({"type": "stop"}))


async def receive_results(websocket: ClientConnection, result: ClientResult) -> None:
    """Record partials and the final until the server closes the connection."""
    async for message in websocket:
        received_at = time.monotonic()
        reply = json.loads(message)
        kind = reply.get("type")
        if kind == "partial":
            result.partials.append((float(reply["audio_end"]), received_at))
        elif kind == "final":
            result.final_at = received_at
        elif kind == "error":
            result.error = f"{reply.get('code')}: {reply.get('message')}"


async def stream_session(websocket: ClientConnection, chunks: list[bytes], result: ClientResult) -> None:
    """start, ready, the audio in real time while a second task records the replies, stop, final."""
    await websocket.send(json.dumps({"type": "start", "sample_rate": SAMPLE_RATE, "format": "pcm16"}))
    async with asyncio.timeout(CONNECT_TIMEOUT):
        ready = json.loads(await websocket.recv())
    if ready.get("type") != "ready":
        result.error = f"expected 'ready', got {ready}"
        return
    receiver = asyncio.create_task(receive_results(websocket, result))
    try:
        await send_audio(websocket, chunks, result)
        async with asyncio.timeout(FINAL_TIMEOUT):
            await receiver
    finally:
        receiver.cancel()
        await asyncio.gather(receiver, return_exceptions=True)


async def run_client(url: str, chunks: list[bytes], start_at: float) -> ClientResult:
    result = ClientResult()
    await sleep_until(start_at)
    try:
        async with connect(url, compression=None, open_timeout=CONNECT_TIMEOUT) as websocket:
            try:
                await stream_session(websocket, chunks, result)
            except asyncio.CancelledError:
                # Interrupted: drop the connection now. A close handshake could itself be cancelled
                # halfway, leaving the server waiting for it while this process stops the server.
                websocket.transport.abort()
                raise
    except Exception as exc:  # noqa: BLE001 - every failure of one client is counted, none stops the run
        result.error = result.error or f"{type(exc).__name__}: {exc}"
    if result.error is None and result.final_at is None:
        result.error = "no final result"
    return result


# ---------------------------------------------------------------- one round


@dataclass
class Round:
    streams: int
    partial_ms: np.ndarray
    final_ms: np.ndarray
    server_cpu: float | None  # % of one core
    client_cpu: float
    errors: int
    first_error: str | None
    max_lag: float
    wall: float


async def run_round(url: str, chunks: list[bytes], streams: int, server: ServerProcess | None) -> Round:
    """``streams`` concurrent clients, their starts spread over STAGGER_SECONDS."""
    server_before = server.cpu_seconds() if server else 0.0
    client_before, wall_before = time.process_time(), time.monotonic()
    base = wall_before + 0.05
    results = await asyncio.gather(*(run_client(url, chunks, base + STAGGER_SECONDS * i / streams) for i in range(streams)))
    wall = time.monotonic() - wall_before
    errors = [r.error for r in results if r.error is not None]
    finals = [r.final_latency() for r in results]
    return Round(
        streams=streams,
        partial_ms=1000 * np.array([x for r in results for x in r.partial_latencies()]),
        final_ms=1000 * np.array([x for x in finals if x is not None]),
        server_cpu=100 * (server.cpu_seconds() - server_before) / wall if server else None,
        client_cpu=100 * (time.process_time() - client_before) / wall,
        errors=len(errors),
        first_error=errors[0] if errors else None,
        max_lag=max(r.max_lag for r in results),
        wall=wall,
    )


def percentile(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if values.size else float("nan")


def progress(result: Round) -> str:
    line = (
        f"{result.streams} streams: {result.partial_ms.size} partial latencies, p95 {percentile(result.partial_ms, 95):.1f} ms, "
        f"{result.errors} errors, sender max lag {1000 * result.max_lag:.0f} ms, {result.wall:.1f} s"
    )
    return line + (f" (first error: {result.first_error})" if result.first_error else "")


# ---------------------------------------------------------------- report


HEADERS = ("streams", "partial p50 ms", "p95", "p99", "final p50 ms", "p95", "p99", "server CPU %", "client CPU %", "errors")


def percentiles(values: np.ndarray) -> list[str]:
    return [f"{percentile(values, q):.1f}" if values.size else "-" for q in (50, 95, 99)]


def table_row(result: Round) -> list[str]:
    cells = [str(result.streams), *percentiles(result.partial_ms), *percentiles(result.final_ms)]
    cells.append("-" if result.server_cpu is None else f"{result.server_cpu:.0f}")
    cells += [f"{result.client_cpu:.0f}", str(result.errors)]
    return cells


def format_table(rows: list[list[str]], markdown: bool, headers: Sequence[str] = HEADERS) -> str:
    if markdown:
        lines = [headers, ["---"] * len(headers), *rows]
        return "\n".join("| " + " | ".join(line) + " |" for line in lines)
    widths = [max(len(line[i]) for line in (headers, *rows)) for i in range(len(headers))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(line, widths)) for line in (headers, *rows))


def capacity_line(results: list[Round], target_ms: float) -> str:
    passing = [r.streams for r in results if r.errors == 0 and percentile(r.partial_ms, 95) <= target_ms]
    if not passing:
        return f"no stream count met p95 partial latency <= {target_ms:g} ms without errors"
    return f"largest stream count with p95 partial latency <= {target_ms:g} ms and no errors: {max(passing)}"


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, nargs="+", default=[25, 50, 100, 150, 200], help=f"concurrent clients per round, 1-{MAX_STREAMS} (default: 25 50 100 150 200)")
    parser.add_argument("--seconds", type=float, default=20.0, help=f"audio each client streams, looped or cut from the clip, at most {MAX_SECONDS:g} (default 20)")
    parser.add_argument(
        "--gap-seconds", type=float, default=GAP_SECONDS,
        help=f"silence between sentences (default {GAP_SECONDS:g}: continuous speech, one utterance until the endpointer's 20 s cut; "
        "1 s or more: each sentence its own utterance, as in conversation)",
    )  # fmt: skip
    parser.add_argument("--chunk-ms", type=int, default=100, help="audio per websocket message, sent in real time (default 100)")
    parser.add_argument("--audio", type=Path, nargs="+", default=None, help="audio files to stream (joined) instead of synthesized speech")
    parser.add_argument("--url", default=None, help="load this running server (loopback only, e.g. ws://127.0.0.1:8765/v1/stream) instead of spawning one")
    parser.add_argument("--model", default=None, help="spawned server: checkpoint, model folder or name under models/ (default: the shipped model)")
    parser.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"], help="spawned server: where the model runs (default: the server's, auto)")
    parser.add_argument("--precision", default=None, choices=["auto", "float32", "int8"], help="spawned server: the model's arithmetic (default: the server's, auto)")
    parser.add_argument("--denoise", type=float, default=None, metavar="MIX", help="spawned server: RNNoise's noise suppression mixed in at this share, e.g. 0.3 (default: the server's, off)")
    parser.add_argument("--decoder", default=None, choices=["auto", "lexicon", "greedy"], help="spawned server: the lexicon search with the LM, or greedy (character models) (default: the server's, auto)")
    parser.add_argument("--beam-size", type=int, default=None, help="spawned server: the lexicon search's beam (default: the one tuned for the model)")
    parser.add_argument("--min-beam-size", type=int, default=None, help="spawned server: the narrowest beam it searches with under load (default: the server's, 200)")
    parser.add_argument("--max-batch", type=int, default=None, help="spawned server: streams per batched forward pass (default: the server's)")
    parser.add_argument("--max-wait-ms", type=float, default=None, help="spawned server: how long a batch waits to fill (default: the server's)")
    parser.add_argument("--workers", type=int, default=None, help="spawned server: inference threads (default: the server's, 2)")
    parser.add_argument("--processes", type=int, default=None, help="spawned server: server processes sharing the port (default: the server's, 2)")
    parser.add_argument("--target-ms", type=float, default=250.0, help="p95 partial latency that a stream count must meet (default 250)")
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown")
    args = parser.parse_args(argv)
    if not all(1 <= n <= MAX_STREAMS for n in args.streams):
        parser.error(f"--streams must be between 1 and {MAX_STREAMS}")
    if not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be in (0, {MAX_SECONDS:g}]")
    if not 0 <= args.gap_seconds <= MAX_SECONDS:
        parser.error(f"--gap-seconds must be in [0, {MAX_SECONDS:g}]")
    if not 10 <= args.chunk_ms <= 1000:
        parser.error("--chunk-ms must be 10-1000")
    if args.url is not None and any(v is not None for v in (args.model, args.device, args.precision, args.denoise, args.decoder, args.beam_size, args.min_beam_size, args.max_batch, args.max_wait_ms, args.workers, args.processes)):
        parser.error("--model, --device, --precision, --denoise, --decoder, --beam-size, --min-beam-size, --max-batch, --max-wait-ms, --workers and --processes configure a spawned server; they do not apply with --url")
    if args.url is not None:
        args.url = loopback_url(args.url)
    return args


async def run_rounds(url: str, chunks: list[bytes], streams: list[int], server: ServerProcess | None) -> list[Round]:
    warmup_chunks = max(1, round(WARMUP_SECONDS * SAMPLE_RATE * 2 / len(chunks[0])))
    await run_client(url, chunks[:warmup_chunks], time.monotonic())
    results = []
    for count in streams:
        print(f"running {count} streams ...", file=sys.stderr, flush=True)
        result = await run_round(url, chunks, count, server)
        print(progress(result), file=sys.stderr, flush=True)
        results.append(result)
    return results


def describe_server(server: ServerProcess) -> str:
    settings = server.listening["settings"]
    beam = settings["beam_size"] or "the model's server beam"
    return f"spawned server on {server.listening['device']}: model {settings['model'] or 'default'}, decoder {settings['decoder']}, beam {beam} (narrowing to {settings['min_beam_size']} under load), max_batch {settings['max_batch']}, max_wait_ms {settings['max_wait_ms']:g}, workers {settings['workers']}, processes {settings['processes']}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # unwind, so the spawned server is stopped too
    with tempfile.TemporaryDirectory(prefix="asr-load-") as folder:
        paths = args.audio or synthesize(Path(folder))
        chunks = pcm16_chunks(make_clip(paths, args.seconds, args.gap_seconds), args.chunk_ms)
    raise_fd_limit(max(args.streams))
    print(f"clip: {args.seconds:g} s per stream from {len(paths)} file(s) {args.gap_seconds:g} s apart, {args.chunk_ms} ms chunks, starts spread over {STAGGER_SECONDS:g} s")
    if args.url is not None:
        print(f"server: {args.url} (its CPU is not measured)\n", flush=True)
        results = asyncio.run(run_rounds(args.url, chunks, args.streams, None))
        status = 0
    else:
        with ServerProcess(server_options(args)) as server:
            url = f"ws://127.0.0.1:{server.wait_listening()}/v1/stream"
            print(f"server: {describe_server(server)}\n", flush=True)
            results = asyncio.run(run_rounds(url, chunks, args.streams, server))
            status = server.stop()
        if status != 0:
            print(f"error: the server exited with status {status} after SIGTERM (expected 0):\n" + "\n".join(server.tail), file=sys.stderr)
        for line in server.problems:
            print(f"server logged: {line}", file=sys.stderr)
    print(format_table([table_row(r) for r in results], args.markdown))
    print()
    print(capacity_line(results, args.target_ms))
    return 1 if status != 0 else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the spawned server was stopped on the way out
        sys.exit(130)

"""``asr serve --processes N``: N whole daemons on one port, so that the search uses every core.

flashlight-text's lexicon search never releases Python's interpreter lock (its bindings have
no ``gil_scoped_release``), so one server process searches on one core however many
inference threads it runs. Here each child process is a whole ``SpeechServer`` (its own
model, batcher and sessions) bound to the same port with ``SO_REUSEPORT``, and the kernel
spreads new connections over them. A session lives and dies in one process.

The parent reserves the port first (bound, never listening, so it resolves port 0 and no
other program takes the port meanwhile), starts the children with the ``spawn`` method,
and logs ``listening`` once every child listens. It forwards SIGTERM and SIGINT, so every
child drains its sessions, and exits 0 once all have exited 0. If one child fails, the
others are stopped the same way and the parent exits 1. The children write their Prometheus
values to one temporary folder, removed at exit, so ``/metrics`` in any of them reports the sums.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import queue
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.connection import wait
from pathlib import Path
from types import FrameType

from asr.worker_pool import processes_that_fit, usable_cores
from server.config import ServerConfig, describe, listen_url

__all__ = ["serve_processes", "default_processes"]

log = logging.getLogger("asr.server")

STARTUP_SECONDS = 300.0  # how long the children get to load the model and listen
PROCESS_MEMORY = 1e9  # bytes a server process needs: 0.76 GB idle with the default model and LM (RSS), the rest for sessions
MAX_AUTO_PROCESSES = 16  # beyond this many, --processes says it


def default_processes() -> int:
    """How many server processes run when the settings name none: one per core, at most ``MAX_AUTO_PROCESSES``,
    and no more than the free memory holds at ``PROCESS_MEMORY`` each."""
    return processes_that_fit(PROCESS_MEMORY, MAX_AUTO_PROCESSES)


def serve_processes(config: ServerConfig) -> int:
    """Run ``config.processes`` server processes on one port until SIGTERM or SIGINT; the exit code.

    ValueError carries a child's startup error (a bad model path, say), as a one-process server would raise it.
    """
    with _reserve_port(config.host, config.port) as reserved, tempfile.TemporaryDirectory(prefix="asr-metrics-") as metrics_dir:
        port = reserved.getsockname()[1]
        member = replace(config, port=port, processes=1)
        context = multiprocessing.get_context("spawn")  # fork would copy torch's threads and locks
        reports: multiprocessing.Queue[tuple[int, str, str]] = context.Queue()
        threads = max(1, usable_cores() // config.processes)
        children = [context.Process(target=_serve_member, args=(member, index, threads, reports, Path(metrics_dir)), name=f"asr-serve-{index}") for index in range(config.processes)]
        stopping = False

        def forward(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True
            _signal_all(children, signum)

        previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGTERM, signal.SIGINT)}
        try:
            for child in children:
                child.start()
            device = _await_listening(children, reports, lambda: stopping)
            if device is not None:  # None: stopped while starting
                log.info(
                    "listening",
                    extra={"event": "listening", "url": listen_url(config, port), "port": port, "device": device, "processes": len(children), "settings": describe(config)},
                )
            return _supervise(children, lambda: stopping)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            for child in children:
                if child.pid is not None:
                    child.join(timeout=config.drain_timeout + 10)
                if child.is_alive():
                    child.kill()


def _reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) with SO_REUSEPORT, not listening: it only holds the port.

    The port is first bound without SO_REUSEPORT, which fails while anything listens on it (another
    ``asr serve --processes`` included, which the reserved socket would otherwise silently join),
    and which resolves port 0 to a free one.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's listeners: a port in TIME_WAIT is free
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ValueError(f"cannot listen on {host}:{port}: {error.strerror}") from None
        port = probe.getsockname()[1]
    reserved = socket.socket(family, socket.SOCK_STREAM)
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        reserved.bind((host, port))
    except OSError as error:
        reserved.close()
        raise ValueError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    return reserved


def _await_listening(
    children: list[multiprocessing.process.BaseProcess], reports: multiprocessing.Queue[tuple[int, str, str]], stopping: Callable[[], bool]
) -> str | None:
    """Wait until every child reports that it listens: their device, or None if a stop came first.

    ValueError: a child's startup error, or a child that died or hung while starting (the rest are stopped).
    """
    listening: set[int] = set()
    device = ""
    deadline = time.monotonic() + STARTUP_SECONDS
    while len(listening) < len(children):
        if stopping():
            return None
        try:
            index, kind, detail = reports.get(timeout=0.2)
        except queue.Empty:
            if stopping():  # a child the forwarded signal stopped before it could listen is no failure
                return None
            dead = next((child for child in children if child.exitcode is not None), None)
            if dead is None and time.monotonic() < deadline:
                continue
            _signal_all(children)
            if dead is None:
                raise ValueError(f"the server processes did not all listen within {STARTUP_SECONDS:.0f} s") from None
            raise ValueError(f"server process {dead.name} exited with code {dead.exitcode} while starting (its log says why)") from None
        if kind == "error":
            _signal_all(children)
            raise ValueError(detail)
        listening.add(index)
        device = detail
    return device


def _supervise(children: list[multiprocessing.process.BaseProcess], stopping: Callable[[], bool]) -> int:
    """Wait for the children to exit; a failure (or an exit nobody asked for) stops the rest. The exit code."""
    running = list(children)
    failed = False
    while running:
        for sentinel in wait([child.sentinel for child in running]):
            child = next(c for c in running if c.sentinel == sentinel)
            running.remove(child)
            child.join()
            stopped = child.exitcode in (0, -signal.SIGTERM)  # -SIGTERM: the forwarded signal came before its handlers
            if not (stopping() and stopped):
                log.error(
                    "a server process exited",
                    extra={"event": "process_exited", "process": child.name, "exit_code": child.exitcode},
                )  # fmt: skip
                if not failed:
                    failed = True
                    _signal_all(running)
    return 1 if failed else 0


def _signal_all(children: list[multiprocessing.process.BaseProcess], signum: int = signal.SIGTERM) -> None:
    for child in children:
        if child.is_alive():
            os.kill(child.pid, signum)


def _serve_member(config: ServerConfig, index: int, threads: int, reports: multiprocessing.Queue[tuple[int, str, str]], metrics_dir: Path) -> None:
    """One child: a whole server on the shared port, until SIGTERM or SIGINT, its metrics in ``metrics_dir``."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)  # read once, when prometheus_client is first imported (below)
    import torch

    from asr.checkpoint import CheckpointError
    from server.app import SpeechServer
    from server.logs import configure_logging

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # until the server's own handlers take over: the parent forwards it
    torch.set_num_threads(threads)
    configure_logging(config.log_format)

    async def serve() -> None:
        try:
            server = SpeechServer(config, group_metrics_dir=metrics_dir)
            await server.start()
        except (CheckpointError, ValueError, OSError) as error:
            reports.put((index, "error", str(error)))
            raise SystemExit(2) from None
        reports.put((index, "listening", str(server.recognizer.device)))
        await server.serve_until_signal()

    asyncio.run(serve())

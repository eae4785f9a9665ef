"""Helpers for the server tests: a real server on port 0, real websocket clients, speech they make."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from asr.decoding import Transcript
from asr.stream import StreamingRecognizer
from asr.transcribe import transcribe_file
from server.app import SpeechServer
from server.config import ServerConfig

# The search never narrows in these servers (min_beam_size above any beam): tests send audio faster than real time
# and compare finals with asr transcribe's, on machines busy with other tests. tests/test_governor.py narrows it.
WHOLE_SEARCH = 1 << 30
BASE = ServerConfig(port=0, max_wait_ms=2.0, log_format="text", min_beam_size=WHOLE_SEARCH)


def speak(text: str, path: Path, voice: str = "en-us") -> Path:
    """espeak-ng speech (22.05 kHz PCM16 WAV) at ``path``; skips the test without espeak-ng."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/setup.sh installs it)")
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    return path


def offline(recognizer: StreamingRecognizer, path: Path) -> Transcript:
    """What ``asr transcribe`` makes of the file: what a session streaming it must equal."""
    return transcribe_file(recognizer, path).transcript


@contextlib.asynccontextmanager
async def running_server(recognizer: StreamingRecognizer, **settings: Any) -> AsyncIterator[SpeechServer]:
    server = SpeechServer(replace(BASE, **settings), recognizer)
    await server.start()
    try:
        yield server
    finally:
        await server.shutdown()


async def idle(server: SpeechServer, timeout: float = 5.0) -> int:
    """Wait until the server's handlers have all returned (they finish just after the close); the sessions left."""
    for _ in range(int(timeout / 0.01)):
        if not server.sessions:
            break
        await asyncio.sleep(0.01)
    return len(server.sessions)


@contextlib.contextmanager
def server_in_thread(recognizer: StreamingRecognizer, **settings: Any) -> Iterator[tuple[int, threading.Event]]:
    """A real server on its own event loop in a thread, for synchronous clients: (port, stop).

    Setting ``stop`` shuts the server down as SIGTERM would (sessions drain, then close 1001).
    """
    ready, stop = threading.Event(), threading.Event()
    port: list[int] = []

    def serve() -> None:
        async def main() -> None:
            async with running_server(recognizer, **settings) as server:
                port.append(server.port)
                ready.set()
                await asyncio.to_thread(stop.wait)

        asyncio.run(main())

    thread = threading.Thread(target=serve, name="test-server")
    thread.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("the test server did not start within 30 s")
        yield port[0], stop
    finally:
        stop.set()
        thread.join()


def url(server: SpeechServer, path: str = "/v1/stream", scheme: str = "ws") -> str:
    return f"{scheme}://127.0.0.1:{server.port}{path}"


@dataclass
class Exchange:
    """What a client got back: every message (parsed JSON), and how the server closed."""

    messages: list[dict[str, Any]]
    close_code: int | None
    close_reason: str

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]

    @property
    def final(self) -> dict[str, Any]:
        (final,) = self.of_type("final")
        return final

    @property
    def error_code(self) -> str | None:
        errors = self.of_type("error")
        return errors[-1]["code"] if errors else None


async def read_all(ws: ClientConnection) -> Exchange:
    messages = []
    with contextlib.suppress(ConnectionClosed):
        async for message in ws:
            messages.append(json.loads(message))
    await ws.wait_closed()
    return Exchange(messages, ws.close_code, ws.close_reason)


def pcm_chunks(samples: np.ndarray, sizes: Sequence[int], fmt: str = "pcm16") -> list[bytes]:
    """Split (N,) int16 samples into frames of the given sizes (cycled), as ``fmt`` bytes."""
    data = samples.astype("<i2") if fmt == "pcm16" else (samples.astype(np.float32) / 32768.0).astype("<f4")
    frames, start, index = [], 0, 0
    while start < len(data):
        size = max(1, sizes[index % len(sizes)])
        frames.append(data[start : start + size].tobytes())
        start, index = start + size, index + 1
    return frames


async def stream_native(address: str, frames: Sequence[bytes], sample_rate: int, fmt: str = "pcm16", **start: Any) -> Exchange:
    """A complete native session: start, every frame, stop; returns everything the server sent."""
    async with connect(address, compression=None) as ws:
        await ws.send(json.dumps({"type": "start", "sample_rate": sample_rate, "format": fmt, **start}))
        for frame in frames:
            await ws.send(frame)
        await ws.send(json.dumps({"type": "stop"}))
        return await read_all(ws)


def read_pcm16(path: Path) -> tuple[np.ndarray, int]:
    samples, rate = soundfile.read(str(path), dtype="int16")
    return samples, rate


def words_of(result: dict[str, Any]) -> list[tuple[str, float, float]]:
    return [(w["word"], w["start"], w["end"]) for w in result.get("words", result.get("result", []))]


async def gather(*coroutines: Any) -> list[Any]:
    return list(await asyncio.gather(*coroutines))

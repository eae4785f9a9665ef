"""One client connection: protocol messages in, step requests to the batcher, results out.

A session runs two tasks. The receiver reads messages, validates and decodes audio, and puts
it in a bounded buffer; when the buffer is full it stops reading, so the client is slowed by
TCP flow control instead of the server's memory growing. The processor takes everything
buffered, submits it to the shared batcher as one step request, and sends the result. Any
protocol error ends only this session: the audio received before it is still recognized and
its final result sent, then the client gets an ``error`` message and a close code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import torch
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from asr.audio import AudioError, float32_bytes_to_float, pcm16_to_float
from asr.stream import Stream
from server import protocol
from server.batcher import Batcher
from server.config import ServerConfig
from server.dialects import Dialect
from server.metrics import ServerMetrics
from server.protocol import CloseCode, ProtocolError, Start, Stop

__all__ = ["Session"]

log = logging.getLogger("asr.server")
STEP_SECONDS_AT_MOST = 1.0  # audio a session hands the model in one step: a stream far behind catches up in bounded steps


class _AudioBuffer:
    """Decoded audio waiting for the model, bounded in samples; ``None`` marks the end."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: list[torch.Tensor | None] = []
        self._size = 0
        self._changed = asyncio.Condition()

    async def put(self, samples: torch.Tensor) -> None:
        """Append, waiting while the buffer is full (backpressure)."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._size < self.capacity)
            self._items.append(samples)
            self._size += samples.numel()
            self._changed.notify_all()

    async def end(self) -> None:
        """Mark the end of audio; never waits for room."""
        async with self._changed:
            self._items.append(None)
            self._changed.notify_all()

    async def take(self, everything: bool, at_most: int) -> tuple[list[torch.Tensor], bool]:
        """Wait for audio; return (chunks, ended). ``everything``: all buffered up to ``at_most`` samples, else one message."""
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._items))
            count, samples = 1, _length(self._items[0])
            while everything and count < len(self._items) and samples + _length(self._items[count]) <= at_most:
                samples += _length(self._items[count])
                count += 1
            taken, self._items = self._items[:count], self._items[count:]
            chunks = [item for item in taken if item is not None]
            self._size -= sum(chunk.numel() for chunk in chunks)
            self._changed.notify_all()
            return chunks, len(chunks) < len(taken)


def _length(item: torch.Tensor | None) -> int:
    return 0 if item is None else item.numel()


class Session:
    """Serves one websocket connection in one protocol dialect (server/dialects.py)."""

    def __init__(self, connection: ServerConnection, dialect: Dialect, session_id: str, batcher: Batcher, settings: ServerConfig, metrics: ServerMetrics) -> None:
        self.connection = connection
        self.dialect = dialect
        self.id = session_id
        self.batcher = batcher
        self.settings = settings
        self.metrics = metrics
        self.start = Start()
        self.stream: Stream | None = None  # made when the session starts, at its sample rate
        self.samples_received = 0  # at the client's sample rate
        self.opened_at = time.monotonic()
        self.draining = False
        self._receiver: asyncio.Task[None] | None = None
        self._buffer: _AudioBuffer | None = None
        self._first: bytes | Stop | None = None  # a Vosk client may start with audio, or eof, and no config

    async def run(self) -> None:
        """Serve until the final result is sent, an error ends the session, or the client vanishes."""
        outcome = "completed"
        self.metrics.active_sessions.inc()
        self.metrics.sessions.labels(self.dialect.name).inc()
        log.info("session opened", extra={"event": "session_open", "session": self.id, "protocol": self.dialect.name, "peer": _peer(self.connection)})
        try:
            await self._open()
            await self._stream()
            await self._close_normally()
        except ProtocolError as exc:
            outcome = exc.code
            self.metrics.errors.labels(exc.code).inc()
            await self._fail(exc)
        except ConnectionClosed:
            outcome = "client_gone"
        finally:
            self.metrics.active_sessions.dec()
            log.info(
                "session closed",
                extra={
                    "event": "session_close",
                    "session": self.id,
                    "outcome": outcome,
                    "audio_seconds": round(self.samples_received / self.start.sample_rate, 3),
                    "wall_seconds": round(time.monotonic() - self.opened_at, 3),
                },
            )

    def drain(self) -> None:
        """Server shutdown: stop reading, finish the audio received so far, send its final, close."""
        self.draining = True
        loop = asyncio.get_running_loop()
        if self._receiver is None or self._buffer is None:  # not started yet: nothing to finish
            loop.create_task(self.connection.close(CloseCode.GOING_AWAY, "server shutting down"))
            return
        self._receiver.cancel()
        loop.create_task(self._buffer.end())

    async def _open(self) -> None:
        """Take the dialect's opening message, make the stream, and tell the client it may send audio."""
        self.start, self._first = self.dialect.opening(await self._receive_message())
        endpoint = self.settings.endpoint if self.settings.endpointing else None
        hotwords = [(hotword.phrase, hotword.boost) for hotword in self.start.hotwords]
        try:
            # in a thread: a new hotword list's lexicon takes about a second, which only this session waits for
            self.stream = await asyncio.to_thread(self.batcher.recognizer.create_stream, self.start.sample_rate, endpoint, hotwords)
        except ValueError as exc:  # a hotword the recognizer cannot pronounce
            raise ProtocolError("bad_message", str(exc)) from None
        ready = self.dialect.ready(self.id, self.start)
        if ready is not None:
            await self.connection.send(ready)

    async def _stream(self) -> None:
        capacity = max(1, int(self.settings.queue_seconds * self.start.sample_rate))
        self._buffer = _AudioBuffer(capacity)
        self._receiver = asyncio.create_task(self._receive_audio(self._buffer, self._first))
        processor = asyncio.create_task(self._process(self._buffer))
        tasks = {self._receiver, processor}
        try:
            while not processor.done():
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task is self._receiver and not task.cancelled() and isinstance(task.exception(), ProtocolError):
                        await self._buffer.end()  # the audio before the error still gets its final result
                        await processor
                    if not task.cancelled():
                        task.result()  # re-raise the receiver's ProtocolError or ConnectionClosed
                tasks -= done
        finally:
            for task in (self._receiver, processor):
                task.cancel()
            await asyncio.gather(self._receiver, processor, return_exceptions=True)

    async def _receive_message(self) -> str | bytes:
        try:
            async with asyncio.timeout(self.dialect.idle_timeout):
                return await self.connection.recv()
        except TimeoutError:
            raise ProtocolError("idle_timeout", f"no message for {self.dialect.idle_timeout:g} s", CloseCode.POLICY) from None

    def _decode(self, data: bytes) -> torch.Tensor:
        count = protocol.check_audio_frame(data, self.start.format, self.settings.max_frame_bytes)
        try:
            samples = pcm16_to_float(data) if self.start.format == "pcm16" else float32_bytes_to_float(data)
        except AudioError as exc:
            raise ProtocolError("bad_audio", str(exc)) from None
        limit = self.settings.max_session_seconds
        if self.samples_received + count > limit * self.start.sample_rate or time.monotonic() - self.opened_at > limit:
            raise ProtocolError("session_too_long", f"sessions are limited to {limit:g} s", CloseCode.POLICY)
        self.samples_received += count
        return samples

    async def _receive_audio(self, buffer: _AudioBuffer, first: bytes | Stop | None) -> None:
        """Read until ``stop``/``eof``, starting with the opening's ``first``; audio goes to ``buffer`` (waiting while it is full)."""
        while True:
            message = first if first is not None else await self._receive_message()
            first = None
            if isinstance(message, Stop):
                await buffer.end()
                return
            if isinstance(message, bytes):
                samples = self._decode(message)
                # A native frame may hold 30 s of audio: it is queued (and later stepped) a second at a time,
                # so the buffer and each step stay near their bounds. Vosk answers each frame, so keeps it whole.
                pieces = samples.split(max(1, int(self.start.sample_rate))) if self.dialect.batches_audio else (samples,)
                for piece in pieces:
                    await buffer.put(piece)
                continue
            if isinstance(self.dialect.parse(message), Start):
                raise ProtocolError("already_started", "this session has already started", CloseCode.POLICY)
            await buffer.end()
            return

    async def _process(self, buffer: _AudioBuffer) -> None:
        """Step buffered audio through the batcher and send the dialect's replies, until the final one."""
        submitted = 0
        while True:
            chunks, ended = await buffer.take(everything=self.dialect.batches_audio, at_most=int(STEP_SECONDS_AT_MOST * self.start.sample_rate))
            audio = torch.cat(chunks) if len(chunks) > 1 else (chunks[0] if chunks else None)
            submitted += 0 if audio is None else audio.numel()
            ended_at = time.perf_counter()
            output = await self.batcher.submit(self.stream, audio, end=ended)
            self.metrics.audio_seconds.inc(0 if audio is None else audio.numel() / self.start.sample_rate)
            for reply in self.dialect.replies(output, self.start.words, submitted / self.start.sample_rate):
                await self.connection.send(reply)
            if output.finished:
                self.metrics.final_seconds.observe(time.perf_counter() - ended_at)
                return

    async def _close_normally(self) -> None:
        """After the last final: the dialect's closing message; close (1001 when the server is shutting down)."""
        closing = self.dialect.closing()
        if closing is not None:
            await self.connection.send(closing)
        if self.draining:
            await self._close(CloseCode.GOING_AWAY, "server shutting down")
        else:
            await self._close(CloseCode.NORMAL)

    async def _fail(self, exc: ProtocolError) -> None:
        log.info("session error", extra={"event": "session_error", "session": self.id, "code": exc.code, "detail": str(exc)})
        try:
            await self.connection.send(protocol.error(exc.code, str(exc)))
            await self._close(exc.close_code, exc.code)
        except ConnectionClosed:
            pass

    async def _close(self, code: int, reason: str = "") -> None:
        """Close, reading and dropping whatever the client still sends meanwhile: with the websocket
        queue full of unread messages, its close frame would go unread for the whole close timeout."""
        discard = asyncio.create_task(self._discard_incoming())
        try:
            await self.connection.close(code, reason)
        finally:
            discard.cancel()

    async def _discard_incoming(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await self.connection.recv()


def _peer(connection: ServerConnection) -> str:
    address = connection.remote_address
    return f"{address[0]}:{address[1]}" if address else "?"

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
from dataclasses import replace

import torch
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from asr.audio import AudioError, float32_bytes_to_float, pcm16_to_float
from asr.beam import TrieLimitReached
from asr.decoding import Segment
from asr.stream import StepOutput, Stream
from server import protocol
from server.batcher import Batcher
from server.config import ServerConfig
from server.dialects import Dialect
from server.metrics import ServerMetrics
from server.protocol import CloseCode, ProtocolError, Reset, Start, Stop

__all__ = ["Session"]

log = logging.getLogger("asr.server")
STEP_SECONDS_AT_MOST = 1.0  # audio a session hands the model in one step: a stream far behind catches up in bounded steps
Mark = Stop | Reset | Start  # what a client says between its audio messages, kept in order with them


class _AudioBuffer:
    """Decoded audio waiting for the model, bounded in samples, with the client's marks in order among it."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: list[torch.Tensor | Mark] = []
        self._size = 0
        self._changed = asyncio.Condition()

    async def put(self, samples: torch.Tensor) -> None:
        """Append, waiting while the buffer is full (backpressure)."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._size < self.capacity)
            self._items.append(samples)
            self._size += samples.numel()
            self._changed.notify_all()

    async def mark(self, mark: Mark) -> None:
        """Append a mark (the end of audio, a reset, new settings); never waits for room."""
        async with self._changed:
            self._items.append(mark)
            self._changed.notify_all()

    async def take(self, everything: bool, at_most: int) -> tuple[list[torch.Tensor], Mark | None]:
        """Wait for something; return (audio, the mark that follows it or None). A mark first in line comes alone.

        ``everything``: all the audio buffered up to ``at_most`` samples, and the mark right after it; else one message.
        """
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._items))
            count, samples = 0, 0
            while count < len(self._items) and isinstance(self._items[count], torch.Tensor) and (count == 0 or everything):
                if count and samples + self._items[count].numel() > at_most:
                    break
                samples += self._items[count].numel()
                count += 1
            chunks: list[torch.Tensor] = self._items[:count]  # type: ignore[assignment]
            mark = None
            if count < len(self._items) and not isinstance(self._items[count], torch.Tensor) and (count == 0 or everything):
                mark = self._items[count]
                count += 1
            self._items = self._items[count:]
            self._size -= samples
            self._changed.notify_all()
            return chunks, mark  # type: ignore[return-value]


class Session:
    """Serves one websocket connection in one protocol dialect (server/dialects.py)."""

    def __init__(self, connection: ServerConnection, dialect: Dialect, session_id: str, batcher: Batcher, settings: ServerConfig, metrics: ServerMetrics) -> None:
        self.connection = connection
        self.dialect = dialect
        self.id = session_id
        self.batcher = batcher
        self.settings = settings
        self.metrics = metrics
        self.start = Start()  # the settings of the stream being recognized
        self.stream: Stream | None = None  # made when the session starts, at its sample rate (Vosk: again at each reset or new config)
        self.seconds_received = 0.0
        self.opened_at = time.monotonic()
        self.draining = False
        self._receiver: asyncio.Task[None] | None = None
        self._buffer: _AudioBuffer | None = None
        self._first: bytes | Stop | Reset | None = None  # a Vosk client may start with audio, eof or reset, and no config
        self._announced = Start()  # the settings of the audio being received: ahead of ``start`` by what is buffered
        self._submitted = 0  # samples handed to the current stream
        self._offset = 0.0  # seconds of the session before the current stream: its times start there
        self._carried: list[Segment] = []  # utterances a new config ended, sent with the next reply

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
            self.stream = None  # and any hotword lexicon of its own with it, now rather than when this session is collected
            self.metrics.active_sessions.dec()
            log.info(
                "session closed",
                extra={
                    "event": "session_close",
                    "session": self.id,
                    "outcome": outcome,
                    "audio_seconds": round(self.seconds_received, 3),
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
        loop.create_task(self._buffer.mark(Stop()))

    async def _open(self) -> None:
        """Take the dialect's opening message, make the stream, and tell the client it may send audio."""
        self.start, self._first = self.dialect.opening(await self._receive_message())
        self._announced = self.start
        self._note_ignored(self.start)
        self.stream = await self._create_stream(self.start)
        ready = self.dialect.ready(self.id, self.start)
        if ready is not None:
            await self.connection.send(ready)

    async def _create_stream(self, start: Start) -> Stream:
        endpoint = self.settings.endpoint if self.settings.endpointing else None
        hotwords = [(hotword.phrase, hotword.boost) for hotword in start.hotwords]
        try:
            # in a thread: a hotword list with words the LM lacks takes seconds to prepare, which only this session waits for
            return await asyncio.to_thread(
                self.batcher.recognizer.create_stream, start.sample_rate, endpoint, hotwords, start.grammar, start.alternatives or None
            )
        except ValueError as exc:  # a hotword the recognizer cannot pronounce, a grammar it cannot follow
            raise ProtocolError("bad_message", str(exc)) from None
        except TrieLimitReached as exc:  # max_hotword_lexicons lists with words the LM lacks are in use
            raise ProtocolError("too_many_hotword_lexicons", str(exc), CloseCode.TRY_AGAIN_LATER) from None

    def _note_ignored(self, start: Start) -> None:
        if start.ignored:
            log.info("config keys ignored", extra={"event": "config_ignored", "session": self.id, "keys": list(start.ignored)})

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
                        await self._buffer.mark(Stop())  # the audio before the error still gets its final result
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
        start = self._announced
        count = protocol.check_audio_frame(data, start.format, self.settings.max_frame_bytes)
        try:
            samples = pcm16_to_float(data) if start.format == "pcm16" else float32_bytes_to_float(data)
        except AudioError as exc:
            raise ProtocolError("bad_audio", str(exc)) from None
        limit = self.settings.max_session_seconds
        if self.seconds_received + count / start.sample_rate > limit or time.monotonic() - self.opened_at > limit:
            raise ProtocolError("session_too_long", f"sessions are limited to {limit:g} s", CloseCode.POLICY)
        self.seconds_received += count / start.sample_rate
        return samples

    async def _receive_audio(self, buffer: _AudioBuffer, first: bytes | Stop | Reset | None) -> None:
        """Read until the end of audio, starting with the opening's ``first``; audio and marks go to ``buffer``
        in order (waiting while it is full)."""
        while True:
            message = first if first is not None else await self._receive_message()
            first = None
            if isinstance(message, bytes):
                samples = self._decode(message)
                # A native frame may hold 30 s of audio: it is queued (and later stepped) a second at a time,
                # so the buffer and each step stay near their bounds. Vosk answers each frame, so keeps it whole.
                pieces = samples.split(max(1, int(self._announced.sample_rate))) if self.dialect.batches_audio else (samples,)
                for piece in pieces:
                    await buffer.put(piece)
                continue
            mark = message if isinstance(message, (Stop, Reset)) else self.dialect.parse(message, self._announced)
            if isinstance(mark, Start):
                self._announced = mark
            await buffer.mark(mark)
            if isinstance(mark, Stop):
                return

    async def _process(self, buffer: _AudioBuffer) -> None:
        """Step buffered audio through the batcher and send the dialect's replies, until the final one."""
        while True:
            chunks, mark = await buffer.take(everything=self.dialect.batches_audio, at_most=int(STEP_SECONDS_AT_MOST * self.start.sample_rate))
            if isinstance(mark, Start):  # Vosk: a config, which has no reply
                await self._reconfigure(mark)
                continue
            audio = torch.cat(chunks) if len(chunks) > 1 else (chunks[0] if chunks else None)
            ended_at = time.perf_counter()
            output = await self._step(audio, end=mark is not None)
            for reply in self.dialect.replies(output, self.start, self._offset + self._submitted / self.start.sample_rate):
                await self.connection.send(reply)
            if isinstance(mark, Reset):  # Vosk: the session goes on, with a new stream
                await self._restart(self.start)
            elif output.finished or self.dialect.ends_session(output):
                self.metrics.final_seconds.observe(time.perf_counter() - ended_at)
                return

    async def _step(self, audio: torch.Tensor | None, end: bool) -> StepOutput:
        """One step of the current stream, its times counted from the start of the session, after any carried utterances."""
        self._submitted += 0 if audio is None else audio.numel()
        output = await self.batcher.submit(self.stream, audio, end=end)
        self.metrics.audio_seconds.inc(0 if audio is None else audio.numel() / self.start.sample_rate)
        if not self._offset and not self._carried:
            return output
        ended = (*self._carried, *(segment.shifted(self._offset) for segment in output.ended))
        self._carried = []
        return replace(output, ended=ended)

    async def _reconfigure(self, start: Start) -> None:
        """New settings from here on. Those the stream was made with (rate, phrases, alternatives) need a new
        stream: the old one is finished, and its last utterance goes with the next reply."""
        self._note_ignored(start)
        if start.same_stream(self.start):
            self.start = start
            return
        output = await self._step(None, end=True)
        self._carried = [segment for segment in output.ended if segment.transcript.text]
        await self._restart(start)

    async def _restart(self, start: Start) -> None:
        """Go on in a new stream with ``start``'s settings, its times following the old one's."""
        self._offset += self._submitted / self.start.sample_rate
        self._submitted = 0
        self.start = start
        self.stream = await self._create_stream(start)

    async def _close_normally(self) -> None:
        """After the last final: the dialect's closing message; close (1001 when the server is shutting down)."""
        self.stream = None  # done: its hotword lexicon, if it has one of its own, is free for others before the client hears the end
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
            message = self.dialect.error(exc.code, str(exc))
            if message is not None:
                await self.connection.send(message)
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

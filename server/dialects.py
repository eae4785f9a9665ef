"""The protocol dialects a session can speak, as objects: what opens a session, what each step sends back.

A dialect turns the engine's step outputs into its own messages; the session (server/session.py)
does everything else the same way for all of them: buffering, backpressure, limits, errors.

- ``NativeDialect``, at ``/v1/stream``: ``start`` first, ``ready`` back, a ``partial`` after every
  step, a ``final`` per utterance, ``end`` after the last one.
- ``VoskDialect``, at ``/vosk``: an optional ``config`` (else the server's Vosk sample rate),
  then exactly one reply per client message: a ``result`` at an endpoint, else a ``partial``.
"""

from __future__ import annotations

from typing import Protocol

from asr.decoding import Segment
from asr.stream import StepOutput
from server import protocol
from server.config import ServerConfig
from server.protocol import CloseCode, ProtocolError, Start, Stop

__all__ = ["Dialect", "NativeDialect", "VoskDialect", "DIALECTS"]


class Dialect(Protocol):
    name: str
    batches_audio: bool  # True: one step takes everything buffered; False: one step per audio message (one reply each)
    idle_timeout: float  # seconds a session may go without a client message

    def opening(self, message: str | bytes) -> tuple[Start, bytes | Stop | None]:
        """The session's first message -> its settings, and what to treat as the first message after them:
        audio (if it was audio), ``Stop`` (if it ended the session at once), or nothing."""
        ...

    def parse(self, text: str) -> Start | Stop: ...

    def ready(self, session: str, start: Start) -> str | None:
        """The message that tells the client the session is open, if the dialect has one."""
        ...

    def replies(self, output: StepOutput, words: bool, audio_end: float) -> list[str]:
        """The messages for one step's output (finals of ended segments, and a partial while streaming)."""
        ...

    def closing(self) -> str | None:
        """The message after the last final, if the dialect has one."""
        ...


def _words(segment: Segment, words: bool) -> list[dict[str, float | str]] | None:
    return [word.to_dict() for word in segment.transcript.words] if words else None


class NativeDialect:
    name = "native"
    batches_audio = True

    def __init__(self, config: ServerConfig) -> None:
        self.idle_timeout = config.idle_timeout

    def opening(self, message: str | bytes) -> tuple[Start, bytes | Stop | None]:
        if isinstance(message, bytes):
            raise ProtocolError("audio_before_start", 'send {"type": "start", ...} before any audio', CloseCode.POLICY)
        parsed = self.parse(message)
        if isinstance(parsed, Stop):
            raise ProtocolError("stop_before_start", "the session ended before it started", CloseCode.POLICY)
        return parsed, None

    def parse(self, text: str) -> Start | Stop:
        return protocol.parse_native(text)

    def ready(self, session: str, start: Start) -> str | None:
        return protocol.ready(session, start.sample_rate, start.format)

    def replies(self, output: StepOutput, words: bool, audio_end: float) -> list[str]:
        finals = [protocol.final(s.index, s.transcript.text, s.start, s.end, _words(s, words)) for s in output.ended]
        return finals if output.finished else [*finals, protocol.partial(output.segment, output.partial, audio_end)]

    def closing(self) -> str | None:
        return protocol.end()


class VoskDialect:
    name = "vosk"
    batches_audio = False

    def __init__(self, config: ServerConfig) -> None:
        self.default_sample_rate = config.vosk_sample_rate  # Vosk clients need not say their rate
        self.idle_timeout = config.vosk_idle_timeout

    def opening(self, message: str | bytes) -> tuple[Start, bytes | Stop | None]:
        if isinstance(message, bytes):
            return Start(sample_rate=self.default_sample_rate), message
        parsed = self.parse(message)
        if isinstance(parsed, Stop):  # eof before any audio: Vosk answers {"text": ""}
            return Start(sample_rate=self.default_sample_rate), parsed
        return parsed, None

    def parse(self, text: str) -> Start | Stop:
        return protocol.parse_vosk(text, self.default_sample_rate)

    def ready(self, session: str, start: Start) -> str | None:
        return None

    def replies(self, output: StepOutput, words: bool, audio_end: float) -> list[str]:
        """Exactly one reply per step, so one per client message, as lock-step Vosk clients expect: the
        utterances that ended in it as one result (nothing said: ``{"text": ""}``, as Vosk), else the partial."""
        if output.ended or output.finished:
            text = " ".join(s.transcript.text for s in output.ended if s.transcript.text)
            said = [word for s in output.ended for word in _words(s, True)] if words else None
            return [protocol.vosk_result(text, said)]
        return [protocol.vosk_partial(output.partial)]

    def closing(self) -> str | None:
        return None


DIALECTS: dict[str, type[NativeDialect] | type[VoskDialect]] = {"/v1/stream": NativeDialect, "/vosk": VoskDialect}  # route -> dialect

"""The protocol dialects a session can speak, as objects: what opens a session, what each step sends back.

A dialect turns the engine's step outputs into its own messages; the session (server/session.py)
does everything else the same way for all of them: buffering, backpressure, limits, errors.

- ``NativeDialect``, at ``/v1/stream``: ``start`` first, ``ready`` back, a ``partial`` after every
  step, a ``final`` per utterance, ``end`` after the last one.
- ``VoskDialect``, at ``/vosk`` (and ``/``): an optional ``config`` (else the server's Vosk sample
  rate), then exactly one reply per audio, ``reset`` or ``eof`` message: a ``result`` (or
  ``alternatives``) where an utterance ended, else a ``partial``. A later ``config`` sends no
  reply and changes the settings from then on. Errors only close the connection (code and
  reason): Vosk clients know no error message.
"""

from __future__ import annotations

from typing import Protocol

from asr.decoding import Segment, Transcript, joined_segments
from asr.stream import StepOutput
from server import protocol
from server.config import ServerConfig
from server.protocol import CloseCode, ProtocolError, Reset, Start, Stop

__all__ = ["Dialect", "NativeDialect", "VoskDialect", "DIALECTS"]


class Dialect(Protocol):
    name: str
    batches_audio: bool  # True: one step takes everything buffered; False: one step per audio message (one reply each)
    idle_timeout: float  # seconds a session may go without a client message

    def opening(self, message: str | bytes) -> tuple[Start, bytes | Stop | Reset | None]:
        """The session's first message -> its settings, and what to treat as the first message after them:
        audio (if it was audio), ``Stop`` or ``Reset`` (if it was one), or nothing."""
        ...

    def parse(self, text: str, current: Start) -> Start | Stop | Reset:
        """A text message after the opening: the session's new settings, the end of audio, or a reset;
        ProtocolError if the dialect allows none of them here."""
        ...

    def ready(self, session: str, start: Start) -> str | None:
        """The message that tells the client the session is open, if the dialect has one."""
        ...

    def replies(self, output: StepOutput, start: Start, audio_end: float) -> list[str]:
        """The messages for one step's output (finals of ended segments, and a partial while streaming)."""
        ...

    def error(self, code: str, message: str) -> str | None:
        """The message that reports an error before the close, if the dialect has one."""
        ...

    def closing(self) -> str | None:
        """The message after the last final, if the dialect has one."""
        ...


def _words(segment: Segment, words: bool) -> list[dict[str, float | str]] | None:
    return _transcript_words(segment.transcript, words)


def _transcript_words(transcript: Transcript, words: bool) -> list[dict[str, float | str]] | None:
    return [word.to_dict() for word in transcript.words] if words else None


class NativeDialect:
    name = "native"
    batches_audio = True

    def __init__(self, config: ServerConfig) -> None:
        self.idle_timeout = config.idle_timeout

    def opening(self, message: str | bytes) -> tuple[Start, bytes | Stop | Reset | None]:
        if isinstance(message, bytes):
            raise ProtocolError("audio_before_start", 'send {"type": "start", ...} before any audio', CloseCode.POLICY)
        parsed = protocol.parse_native(message)
        if isinstance(parsed, Stop):
            raise ProtocolError("stop_before_start", "the session ended before it started", CloseCode.POLICY)
        return parsed, None

    def parse(self, text: str, current: Start) -> Start | Stop | Reset:
        if isinstance(protocol.parse_native(text), Start):
            raise ProtocolError("already_started", "this session has already started", CloseCode.POLICY)
        return Stop()

    def ready(self, session: str, start: Start) -> str | None:
        return protocol.ready(session, start.sample_rate, start.format)

    def replies(self, output: StepOutput, start: Start, audio_end: float) -> list[str]:
        finals = [protocol.final(s.index, s.transcript.text, s.start, s.end, _words(s, start.words)) for s in output.ended]
        return finals if output.finished else [*finals, protocol.partial(output.segment, output.partial, audio_end)]

    def error(self, code: str, message: str) -> str | None:
        return protocol.error(code, message)

    def closing(self) -> str | None:
        return protocol.end()


class VoskDialect:
    name = "vosk"
    batches_audio = False

    def __init__(self, config: ServerConfig) -> None:
        self.default_sample_rate = config.vosk_sample_rate  # Vosk clients need not say their rate
        self.idle_timeout = config.vosk_idle_timeout

    def opening(self, message: str | bytes) -> tuple[Start, bytes | Stop | Reset | None]:
        default = Start(sample_rate=self.default_sample_rate)
        if isinstance(message, bytes):
            return default, message
        parsed = self.parse(message, default)
        if isinstance(parsed, Start):
            return parsed, None
        return default, parsed  # eof or reset before any audio: answered {"text": ""}, as Vosk does

    def parse(self, text: str, current: Start) -> Start | Stop | Reset:
        return protocol.parse_vosk(text, current)

    def ready(self, session: str, start: Start) -> str | None:
        return None

    def replies(self, output: StepOutput, start: Start, audio_end: float) -> list[str]:
        """Exactly one reply per step, so one per client message, as lock-step Vosk clients expect: the
        utterances that ended in it as one result (nothing said: ``{"text": ""}``, as Vosk), else the partial."""
        if not (output.ended or output.finished):
            return [protocol.vosk_partial(output.partial)]
        said = [segment for segment in output.ended if segment.transcript.text]
        if start.alternatives:
            joined = joined_segments(said) if said else []
            return [protocol.vosk_alternatives([(t.text, round(t.score or 0.0, 6), _transcript_words(t, start.words)) for t in joined])]
        text = " ".join(segment.transcript.text for segment in said)
        words = [word for segment in said for word in _words(segment, True)] if start.words else None
        return [protocol.vosk_result(text, words)]

    def error(self, code: str, message: str) -> str | None:
        return None  # Vosk clients parse every message as a result; the close code and reason say what went wrong

    def closing(self) -> str | None:
        return None


DIALECTS: dict[str, type[NativeDialect] | type[VoskDialect]] = {"/v1/stream": NativeDialect, "/vosk": VoskDialect}  # route -> dialect

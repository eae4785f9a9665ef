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
- ``WenetDialect``, at ``/wenet``: ``{"signal": "start", "nbest", "continuous_decoding"}`` first,
  ``server_ready`` back, PCM16 at 16 kHz, ``partial_result`` and ``final_result`` (their ``nbest``
  a JSON string), ``{"signal": "end"}`` -> ``speech_end``. Without continuous decoding, the
  session ends after the first utterance, as WeNet's server does.
- ``SherpaDialect``, at ``/sherpa``: float32 audio at 16 kHz from the first message on, ``"Done"``
  to end; a result object after every step (``is_final`` at each endpoint), then ``"Done!"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from asr.decoding import Segment, Transcript, Word, joined_segments
from asr.stream import StepOutput
from server import protocol
from server.config import ServerConfig
from server.protocol import CloseCode, ProtocolError, Reset, Start, Stop

__all__ = ["Dialect", "NativeDialect", "VoskDialect", "WenetDialect", "SherpaDialect", "DIALECTS"]

WENET_SAMPLE_RATE = 16000  # WeNet's and sherpa-onnx's clients send 16 kHz and say nothing of it
SHERPA_SAMPLE_RATE = 16000
SHERPA_DONE = "Done"  # the client's end of audio
SHERPA_CLOSING = "Done!"  # the server's last message


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

    def ends_session(self, output: StepOutput) -> bool:
        """Whether the session ends after this step's replies, though the audio has not (WeNet without continuous decoding)."""
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

    def ends_session(self, output: StepOutput) -> bool:
        return False

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
        utterances that ended in it as one result (nothing said, as at an endpoint in 5 s of silence:
        ``{"text": ""}``, as Vosk), else the partial."""
        if not (output.ended or output.finished or output.empty_endpoints):
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

    def ends_session(self, output: StepOutput) -> bool:
        return False

    def closing(self) -> str | None:
        return None


class WenetDialect:
    """WeNet's websocket protocol (runtime/core/websocket in wenet-e2e/wenet), as its clients speak it."""

    name = "wenet"
    batches_audio = True

    def __init__(self, config: ServerConfig) -> None:
        self.idle_timeout = config.idle_timeout
        self.continuous = False  # WeNet's default: one utterance per session

    def opening(self, message: str | bytes) -> tuple[Start, bytes | Stop | Reset | None]:
        if isinstance(message, bytes):
            raise ProtocolError("audio_before_start", 'send {"signal": "start"} before any audio', CloseCode.POLICY)
        signal = _wenet_signal(message)
        if signal.get("signal") != "start":
            raise ProtocolError("stop_before_start", 'the session ended before it started: send {"signal": "start"} first', CloseCode.POLICY)
        nbest, continuous = signal.get("nbest", 1), signal.get("continuous_decoding", False)
        if isinstance(nbest, bool) or not isinstance(nbest, int) or not 1 <= nbest <= protocol.MAX_ALTERNATIVES:
            raise ProtocolError("bad_message", f"nbest must be a whole number 1-{protocol.MAX_ALTERNATIVES}, got {str(nbest)[:40]}")
        if not isinstance(continuous, bool):
            raise ProtocolError("bad_message", f"continuous_decoding must be true or false, got {str(continuous)[:40]}")
        self.continuous = continuous
        return Start(sample_rate=WENET_SAMPLE_RATE, alternatives=nbest), None

    def parse(self, text: str, current: Start) -> Start | Stop | Reset:
        if _wenet_signal(text).get("signal") != "end":
            raise ProtocolError("already_started", 'this session has already started; send audio, then {"signal": "end"}', CloseCode.POLICY)
        return Stop()

    def ready(self, session: str, start: Start) -> str | None:
        return protocol.to_json({"status": "ok", "type": "server_ready"})

    def replies(self, output: StepOutput, start: Start, audio_end: float) -> list[str]:
        """A ``final_result`` per ended utterance (only the first, without continuous decoding), else a
        ``partial_result`` when something has been recognized, as WeNet sends them."""
        if output.ended:
            segments = output.ended if self.continuous else output.ended[:1]
            return [protocol.to_json({"status": "ok", "type": "final_result", "nbest": _wenet_nbest(segment, start.alternatives)}) for segment in segments]
        if output.partial and not output.finished:
            return [protocol.to_json({"status": "ok", "type": "partial_result", "nbest": protocol.to_json([{"sentence": output.partial}])})]
        return []

    def error(self, code: str, message: str) -> str | None:
        return protocol.to_json({"status": "failed", "message": f"{code}: {message}"})

    def ends_session(self, output: StepOutput) -> bool:
        return not self.continuous and bool(output.ended)

    def closing(self) -> str | None:
        return protocol.to_json({"status": "ok", "type": "speech_end"})


def _wenet_signal(text: str) -> dict[str, Any]:
    message = protocol.load_object(text)
    if message.get("signal") not in ("start", "end"):
        raise ProtocolError("bad_message", f'expected {{"signal": "start"}} or {{"signal": "end"}}, got signal {str(message.get("signal"))[:40]!r}')
    return message


def _wenet_nbest(segment: Segment, count: int) -> str:
    """WeNet's ``nbest``: a JSON string of ``[{"sentence", "word_pieces": [{"word", "start", "end"}]}]``, times in whole ms."""
    transcripts = [segment.transcript, *segment.alternatives][: max(1, count)]
    return protocol.to_json([
        {"sentence": t.text, "word_pieces": [{"word": w.word, "start": round(w.start * 1000), "end": round(w.end * 1000)} for w in t.words]}
        for t in transcripts
    ])  # fmt: skip


class SherpaDialect:
    """sherpa-onnx's online websocket protocol (online-websocket-server), as its clients speak it."""

    name = "sherpa"
    batches_audio = True

    def __init__(self, config: ServerConfig) -> None:
        self.idle_timeout = config.idle_timeout
        self.segment_start = 0.0  # where the open utterance began: the end of the last one

    def opening(self, message: str | bytes) -> tuple[Start, bytes | Stop | Reset | None]:
        start = Start(sample_rate=SHERPA_SAMPLE_RATE, format="float32")
        return start, message if isinstance(message, bytes) else self.parse(message, start)

    def parse(self, text: str, current: Start) -> Start | Stop | Reset:
        if text != SHERPA_DONE:
            raise ProtocolError("bad_message", f"expected float32 audio or {SHERPA_DONE!r}, got text {text[:40]!r}")
        return Stop()

    def ready(self, session: str, start: Start) -> str | None:
        return None

    def replies(self, output: StepOutput, start: Start, audio_end: float) -> list[str]:
        """A final result per ended utterance (the last also ``is_eof``), and while streaming the open one's partial."""
        replies = []
        for number, segment in enumerate(output.ended):
            last = output.finished and number == len(output.ended) - 1
            replies.append(_sherpa_result(segment.transcript.text, segment.index, segment.start, segment.transcript.words, final=True, eof=last))
            self.segment_start = segment.end
        if not output.finished:
            replies.append(_sherpa_result(output.partial, output.segment, self.segment_start, (), final=False, eof=False))
        return replies

    def error(self, code: str, message: str) -> str | None:
        return None  # sherpa-onnx clients read every message as a result; the close code and reason say what went wrong

    def ends_session(self, output: StepOutput) -> bool:
        return False

    def closing(self) -> str | None:
        return SHERPA_CLOSING


def _sherpa_result(text: str, segment: int, start_time: float, words: Sequence[Word], final: bool, eof: bool) -> str:
    """A sherpa-onnx result: the words as ``tokens``, each one's start in ``timestamps`` (seconds from ``start_time``)."""
    return protocol.to_json({
        "text": text, "tokens": [w.word for w in words], "timestamps": [round(w.start - start_time, 3) for w in words],
        "segment": segment, "start_time": round(start_time, 3), "is_final": final, "is_eof": eof,
    })  # fmt: skip


DIALECTS: dict[str, type[Dialect]] = {
    "/v1/stream": NativeDialect, "/vosk": VoskDialect, "/wenet": WenetDialect, "/sherpa": SherpaDialect,
}  # fmt: skip  # route -> dialect

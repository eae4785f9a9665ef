"""The websocket protocols' messages: parsing client messages and building server messages.

The native and Vosk protocols' messages live here (WeNet's and sherpa-onnx's few are built in
server/dialects.py); all of them share one engine (DESIGN.md section 3):

- native, at ``/v1/stream``: ``start`` -> binary audio -> ``stop``; the server answers
  ``ready``, ``partial``, ``final``, ``error`` and ``end``.
- Vosk-compatible, at ``/vosk``: ``{"config": {...}}`` (optional, and again at any time) ->
  binary PCM16, ``{"reset": 1}`` -> ``{"eof": 1}``; the server answers ``{"partial": ...}`` and
  ``{"result": [...], "text": ...}`` (or ``{"alternatives": [...]}``).

This module knows JSON and bytes only (no torch, no numpy, no ``asr``), so a client can
import it to speak the protocol. Bad client input raises ``ProtocolError``, whose ``code``
and ``close_code`` the session reports before closing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "MIN_CLIENT_SAMPLE_RATE",
    "MAX_CLIENT_SAMPLE_RATE",
    "AUDIO_FORMATS",
    "CloseCode",
    "ProtocolError",
    "Start",
    "Stop",
    "Reset",
    "Hotword",
    "load_object",
    "parse_native",
    "parse_vosk",
    "check_audio_frame",
    "ready",
    "partial",
    "final",
    "error",
    "end",
    "vosk_partial",
    "vosk_result",
    "vosk_alternatives",
    "to_json",
]

MIN_CLIENT_SAMPLE_RATE = 8000  # what a client may stream; files may be 4-192 kHz (asr/audio.py)
MAX_CLIENT_SAMPLE_RATE = 192000
AUDIO_FORMATS = {"pcm16": 2, "float32": 4}  # format -> bytes per sample
MAX_HOTWORDS = 1000
MAX_HOTWORD_CHARS = 100
MAX_ALTERNATIVES = 20
VOSK_CONFIG_KEYS = {"sample_rate", "words", "phrase_list", "max_alternatives"}  # the Vosk config keys this server acts on
VOSK_CATCH_ALL = "[unk]"  # in a Vosk phrase list: anything else may be said too


class CloseCode:
    """WebSocket close codes the server uses (RFC 6455 section 7.4.1)."""

    NORMAL = 1000
    GOING_AWAY = 1001  # the server is shutting down
    UNSUPPORTED_DATA = 1003  # e.g. audio in a format the session did not announce
    INVALID_DATA = 1007  # malformed JSON, odd byte counts, non-finite samples
    POLICY = 1008  # a limit: idle too long, session too long, audio before start
    TOO_BIG = 1009  # a frame larger than max_frame_bytes
    INTERNAL = 1011  # a bug on our side; other sessions are unaffected
    TRY_AGAIN_LATER = 1013  # a server-wide limit is reached: too many sessions, too many hotword lexicons


class ProtocolError(ValueError):
    """A client message that breaks the protocol; the session reports it and closes."""

    def __init__(self, code: str, message: str, close_code: int = CloseCode.INVALID_DATA) -> None:
        super().__init__(message)
        self.code = code
        self.close_code = close_code


@dataclass(frozen=True)
class Hotword:
    phrase: str
    boost: float | None = None  # None: the decoder's default boost


@dataclass(frozen=True)
class Start:
    """A session's settings: a native ``start``, or what Vosk ``config`` messages have set so far."""

    sample_rate: float = 16000  # Hz; whole for almost every client, but Vosk's may be 44100.5
    format: str = "pcm16"
    hotwords: tuple[Hotword, ...] = ()
    words: bool = True  # include per-word times and confidences in finals
    grammar: tuple[str, ...] = ()  # Vosk: phrases recognition is held to (a phrase list without "[unk]")
    alternatives: int = 0  # Vosk's max_alternatives: 0 plain results, else up to this many alternatives
    ignored: tuple[str, ...] = field(default=(), compare=False)  # Vosk: keys of the last config that this server does not use

    def same_stream(self, other: Start) -> bool:
        """Whether audio under ``other`` can go on in a stream made for these settings (only ``words`` differs)."""
        return replace(self, words=other.words) == other


@dataclass(frozen=True)
class Stop:
    """End of audio: the server sends the last final, then ``end`` (native) and closes."""


@dataclass(frozen=True)
class Reset:
    """Vosk's ``{"reset": 1}``: the result so far, and the session goes on with a new utterance."""


# ---------------------------------------------------------------- client -> server


def load_object(text: str) -> dict[str, Any]:
    """A client's text message as a JSON object; ProtocolError (bad_json, bad_message) otherwise."""
    try:
        message = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError("bad_json", f"message is not valid JSON: {exc.msg} at character {exc.pos}") from None
    except (ValueError, RecursionError) as exc:  # valid JSON Python will not hold: a 5000-digit integer, nesting past the stack
        raise ProtocolError("bad_message", f"message cannot be read: {str(exc)[:100]}") from None
    if not isinstance(message, dict):
        raise ProtocolError("bad_message", f"message must be a JSON object, got {type(message).__name__}")
    return message


def _sample_rate(value: Any, where: str) -> float:
    """A rate in Hz: a number, or a string holding one ("16000"), as Vosk clients send it. Need not be whole."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ProtocolError("bad_sample_rate", f"{where} must be a number of Hz, got {value[:40]!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProtocolError("bad_sample_rate", f"{where} must be a number of Hz, got {str(value)[:40]}")
    if not MIN_CLIENT_SAMPLE_RATE <= value <= MAX_CLIENT_SAMPLE_RATE:
        raise ProtocolError("bad_sample_rate", f"{where} {value} Hz is outside {MIN_CLIENT_SAMPLE_RATE}-{MAX_CLIENT_SAMPLE_RATE} Hz")
    return int(value) if float(value).is_integer() else float(value)


def _hotwords(value: Any, name: str = "hotwords") -> tuple[Hotword, ...]:
    """``["name", {"phrase": "two words", "boost": 5.0}, ...]`` -> Hotwords; ``name``: the field, for errors."""
    if not isinstance(value, list):
        raise ProtocolError("bad_message", f"'{name}' must be a list, got {type(value).__name__}")
    if len(value) > MAX_HOTWORDS:
        raise ProtocolError("bad_message", f"'{name}' has {len(value)} entries; at most {MAX_HOTWORDS} are allowed")
    hotwords = []
    for index, item in enumerate(value):
        phrase, boost = (item, None) if isinstance(item, str) else (None, None)
        if isinstance(item, dict):
            phrase, boost = item.get("phrase"), item.get("boost")
            unknown = sorted(set(item) - {"phrase", "boost"})
            if unknown:
                raise ProtocolError("bad_message", f"{name}[{index}]: unknown field(s) {', '.join(unknown)}")
        if not isinstance(phrase, str) or not phrase.strip() or len(phrase) > MAX_HOTWORD_CHARS:
            raise ProtocolError("bad_message", f"{name}[{index}] must be a phrase of 1-{MAX_HOTWORD_CHARS} characters")
        if boost is not None and (isinstance(boost, bool) or not isinstance(boost, (int, float)) or not math.isfinite(boost)):
            raise ProtocolError("bad_message", f"{name}[{index}].boost must be a finite number, got {boost!r}")
        hotwords.append(Hotword(phrase.strip(), None if boost is None else float(boost)))
    return tuple(hotwords)


def _start(message: dict[str, Any]) -> Start:
    unknown = sorted(set(message) - {"type", "sample_rate", "format", "hotwords", "words"})
    if unknown:
        raise ProtocolError("bad_message", f"start: unknown field(s) {', '.join(unknown)}")
    audio_format = message.get("format", "pcm16")
    if not isinstance(audio_format, str):
        raise ProtocolError("bad_message", f"start: 'format' must be a string, got {type(audio_format).__name__}")
    if audio_format not in AUDIO_FORMATS:
        raise ProtocolError(
            "unsupported_format", f"start: format must be one of {', '.join(AUDIO_FORMATS)}, got {audio_format!r}", CloseCode.UNSUPPORTED_DATA
        )
    words = message.get("words", True)
    if not isinstance(words, bool):
        raise ProtocolError("bad_message", f"start: 'words' must be true or false, got {words!r}")
    return Start(
        sample_rate=_sample_rate(message.get("sample_rate", 16000), "start: sample_rate"),
        format=audio_format,
        hotwords=_hotwords(message.get("hotwords", [])),
        words=words,
    )


def parse_native(text: str) -> Start | Stop:
    """A native text message -> ``Start`` or ``Stop``; anything else raises ProtocolError."""
    message = load_object(text)
    kind = message.get("type")
    if kind == "start":
        return _start(message)
    if kind == "stop":
        return Stop()
    raise ProtocolError("bad_message", f"unknown message type {kind!r}; expected 'start' or 'stop'")


def parse_vosk(text: str, current: Start = Start()) -> Start | Stop | Reset:
    """A Vosk text message -> ``Stop`` (``eof``), ``Reset`` (``reset``), or from ``config`` the settings
    ``current`` becomes: each key given replaces its setting, as vosk-server's do.

    ``phrase_list`` becomes a grammar, the phrases being all that can be recognized, as in Vosk;
    with Vosk's catch-all "[unk]" among them, they become hotwords instead (favoured, not required).
    Keys Vosk has that this server does not use (``spk``, ``model``, ``nlsml``, ...) are listed in
    ``ignored`` for the session to log.
    """
    message = load_object(text)
    if "eof" in message:
        return Stop()
    if "reset" in message:
        return Reset()
    if "config" not in message:
        raise ProtocolError("bad_message", 'expected {"config": {...}}, {"reset": 1} or {"eof": 1}')
    config = message["config"]
    if not isinstance(config, dict):
        raise ProtocolError("bad_message", "config must be a JSON object")
    changes: dict[str, Any] = {"ignored": tuple(sorted(set(config) - VOSK_CONFIG_KEYS))}
    if "sample_rate" in config:
        changes["sample_rate"] = _sample_rate(config["sample_rate"], "config.sample_rate")
    if "words" in config:
        changes["words"] = bool(config["words"])
    if "max_alternatives" in config:
        changes["alternatives"] = _alternatives(config["max_alternatives"])
    if "phrase_list" in config:
        phrases = config["phrase_list"]
        open_ended = isinstance(phrases, list) and VOSK_CATCH_ALL in phrases
        hotwords = _hotwords([phrase for phrase in phrases if phrase != VOSK_CATCH_ALL] if open_ended else phrases, "config.phrase_list")
        changes["hotwords"], changes["grammar"] = (hotwords, ()) if open_ended else ((), tuple(hotword.phrase for hotword in hotwords))
    return replace(current, **changes)


def _alternatives(value: Any) -> int:
    """Vosk's max_alternatives: a whole number 0-MAX_ALTERNATIVES (vosk-server reads it with int(), so "3" too)."""
    try:
        count = int(value) if not isinstance(value, bool) else -1
    except (TypeError, ValueError, OverflowError):
        count = -1
    if not 0 <= count <= MAX_ALTERNATIVES:
        raise ProtocolError("bad_message", f"config.max_alternatives must be a whole number 0-{MAX_ALTERNATIVES}, got {str(value)[:40]}")
    return count


def check_audio_frame(data: bytes, audio_format: str, max_bytes: int) -> int:
    """Validate a binary frame's size for ``audio_format``; returns its sample count."""
    if len(data) > max_bytes:
        raise ProtocolError("frame_too_large", f"audio frame of {len(data)} bytes exceeds the limit of {max_bytes}", CloseCode.TOO_BIG)
    width = AUDIO_FORMATS[audio_format]
    if len(data) % width:
        raise ProtocolError("bad_audio", f"{audio_format} audio needs a multiple of {width} bytes per frame, got {len(data)}")
    return len(data) // width


# ---------------------------------------------------------------- server -> client


def to_json(message: Any) -> str:
    """Compact JSON, UTF-8 as is (not \\u escapes): how every server message is written."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


def ready(session: str, sample_rate: float, audio_format: str) -> str:
    return to_json({"type": "ready", "session": session, "sample_rate": sample_rate, "format": audio_format})


def partial(segment: int, text: str, audio_end: float) -> str:
    """``audio_end``: seconds of the session's audio that had arrived when this step ran."""
    return to_json({"type": "partial", "segment": segment, "text": text, "audio_end": round(audio_end, 3)})


def final(segment: int, text: str, start: float, end: float, words: list[dict[str, Any]] | None) -> str:
    message: dict[str, Any] = {"type": "final", "segment": segment, "text": text, "start": round(start, 3), "end": round(end, 3)}
    if words is not None:
        message["words"] = words
    return to_json(message)


def error(code: str, message: str) -> str:
    return to_json({"type": "error", "code": code, "message": message})


def end() -> str:
    return to_json({"type": "end"})


def vosk_partial(text: str) -> str:
    return to_json({"partial": text})


def vosk_result(text: str, words: list[dict[str, Any]] | None) -> str:
    """As Vosk's recognizer: ``result`` (the words) only when the client asked for words and some were said."""
    return to_json({"result": words, "text": text} if words else {"text": text})


def vosk_alternatives(alternatives: list[tuple[str, float, list[dict[str, Any]] | None]]) -> str:
    """As Vosk's recognizer with max_alternatives: (text, confidence, words or None) per alternative, best
    first, and ``[{"text": "", "confidence": 1.0}]`` when nothing was said."""
    listed = [{"confidence": confidence, "result": words, "text": text} if words else {"confidence": confidence, "text": text} for text, confidence, words in alternatives]
    return to_json({"alternatives": listed or [{"text": "", "confidence": 1.0}]})


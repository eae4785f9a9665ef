"""Render transcripts as txt, json, jsonl, SRT and WebVTT."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from asr.decoding import Transcript, Word

__all__ = ["FORMATS", "FileTranscript", "render", "caption_cues", "cue_block", "timestamp"]

FORMATS = ("txt", "json", "jsonl", "srt", "vtt")

MAX_CUE_CHARS = 42  # a common subtitle line length
MAX_CUE_SECONDS = 6.0
MAX_CUE_GAP_SECONDS = 1.0


@dataclass(frozen=True)
class FileTranscript:
    audio: str  # the path as the user gave it
    transcript: Transcript
    duration: float
    alternatives: tuple[Transcript, ...] = ()  # the next best transcripts, when an n-best list was asked for

    def to_dict(self) -> dict[str, Any]:
        record = {"audio": self.audio, **self.transcript.to_dict(), "duration": round(self.duration, 3)}
        if self.alternatives:
            record["alternatives"] = [alternative.to_dict() for alternative in self.alternatives]
        return record


def caption_cues(words: tuple[Word, ...]) -> list[tuple[float, float, str]]:
    """Group words into (start, end, text) cues of readable length, split at pauses."""
    cues: list[list[Word]] = []
    for word in words:
        if cues:
            cue = cues[-1]
            text_length = sum(len(w.word) + 1 for w in cue) + len(word.word)
            fits = (
                text_length <= MAX_CUE_CHARS
                and word.end - cue[0].start <= MAX_CUE_SECONDS
                and word.start - cue[-1].end <= MAX_CUE_GAP_SECONDS
            )
            if fits:
                cue.append(word)
                continue
        cues.append([word])
    return [(cue[0].start, cue[-1].end, " ".join(w.word for w in cue)) for cue in cues]


def timestamp(seconds: float, decimal: str) -> str:
    """HH:MM:SS,mmm (SRT, ``decimal=","``) or HH:MM:SS.mmm (WebVTT)."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def cue_block(fmt: str, number: int, start: float, end: float, text: str) -> str:
    """One caption cue: SRT numbers it and writes 00:00:01,000; WebVTT writes 00:00:01.000."""
    if fmt == "srt":
        return f"{number}\n{timestamp(start, ',')} --> {timestamp(end, ',')}\n{text}\n"
    return f"{timestamp(start, '.')} --> {timestamp(end, '.')}\n{text}\n"


def _captions(transcript: Transcript, fmt: str) -> str:
    blocks = [cue_block(fmt, number, *cue) for number, cue in enumerate(caption_cues(transcript.words), start=1)]
    return ("WEBVTT\n\n" if fmt == "vtt" else "") + "\n".join(blocks)


def render(result: FileTranscript, fmt: str) -> str:
    """The text of one file's output in ``fmt`` (one of FORMATS), ending in a newline."""
    if fmt == "txt":
        return result.transcript.text + "\n"
    if fmt == "json":
        return json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "jsonl":
        return json.dumps(result.to_dict(), ensure_ascii=False) + "\n"
    if fmt in ("srt", "vtt"):
        return _captions(result.transcript, fmt)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")

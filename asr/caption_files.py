"""Caption files written as utterances end: SRT, WebVTT or JSON Lines, flushed after each one,
so whatever was said before a crash or Ctrl-C is on disk."""

from __future__ import annotations

import json
from pathlib import Path

from asr.decoding import Segment
from asr.formats import caption_cues, cue_block

__all__ = ["CAPTION_FORMATS", "CaptionFile"]

CAPTION_FORMATS = {".srt": "srt", ".vtt": "vtt", ".jsonl": "jsonl"}


class CaptionFile:
    """Appends final segments to ``path`` as SRT, WebVTT or JSON Lines (by its suffix)."""

    def __init__(self, path: Path) -> None:
        fmt = CAPTION_FORMATS.get(path.suffix.lower())
        if fmt is None:
            raise ValueError(f"{path}: caption output must end in {', '.join(CAPTION_FORMATS)}")
        self.path, self.format = path, fmt
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("w", encoding="utf-8")
        self._cues = 0
        if fmt == "vtt":
            self._write("WEBVTT\n\n")

    def write(self, segment: Segment) -> None:
        if self.format == "jsonl":
            record = {"segment": segment.index, "start": round(segment.start, 3), "end": round(segment.end, 3), **segment.transcript.to_dict()}
            self._write(json.dumps(record, ensure_ascii=False) + "\n")
            return
        for cue in caption_cues(segment.transcript.words):
            self._cues += 1
            self._write(cue_block(self.format, self._cues, *cue) + "\n")

    def _write(self, text: str) -> None:
        self._file.write(text)
        self._file.flush()

    def close(self) -> None:
        self._file.close()

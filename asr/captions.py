"""Live captions: the terminal view, caption files written as utterances end, and the local loop.

``TerminalCaptions`` rewrites the partial in place on a terminal (only its tail, so it stays
on one line) and commits each final on its own line with its times. ``CaptionFile`` appends
each final segment to an SRT, WebVTT or JSON Lines file and flushes it, so whatever was said
before a crash or Ctrl-C is on disk. ``caption_source`` drives the local engine from a live
source (asr/capture.py) with endpointing, until the source ends or ``stop`` is set.
"""

from __future__ import annotations

import json
import queue
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TextIO

import numpy as np
import torch

from asr.decoding import Segment
from asr.endpoint import EndpointConfig
from asr.formats import caption_cues, cue_block
from asr.stream import StreamingRecognizer

__all__ = ["CAPTION_FORMATS", "TerminalCaptions", "CaptionFile", "LiveSource", "caption_source"]

CAPTION_FORMATS = {".srt": "srt", ".vtt": "vtt", ".jsonl": "jsonl"}


class LiveSource(Protocol):
    sample_rate: int

    def read(self, timeout: float | None = None) -> np.ndarray | None: ...


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(max(0.0, seconds), 60)
    return f"{int(minutes):02d}:{seconds:04.1f}"


class TerminalCaptions:
    """Prints captions to ``out``: live partials on a terminal, committed finals everywhere."""

    def __init__(self, out: TextIO, live: bool | None = None) -> None:
        self.out = out
        self.live = out.isatty() if live is None else live
        self._shown = ""

    def partial(self, text: str) -> None:
        if not self.live or text == self._shown:
            return
        width = shutil.get_terminal_size((80, 24)).columns - 1
        tail = text if len(text) <= width else "…" + text[-(width - 1) :]
        self.out.write(f"\r\033[K\033[2m{tail}\033[0m")  # dim: it may still change
        self.out.flush()
        self._shown = text

    def final(self, segment: Segment) -> None:
        if not segment.transcript.text:
            return
        clear = "\r\033[K" if self.live and self._shown else ""
        self.out.write(f"{clear}[{_clock(segment.start)} - {_clock(segment.end)}] {segment.transcript.text}\n")
        self.out.flush()
        self._shown = ""

    def clear(self) -> None:
        if self.live and self._shown:
            self.out.write("\r\033[K")
            self.out.flush()
            self._shown = ""


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


def caption_source(
    recognizer: StreamingRecognizer,
    source: LiveSource,
    on_partial: Callable[[str], None],
    on_final: Callable[[Segment], None],
    stop: threading.Event,
    endpoint: EndpointConfig | None = EndpointConfig(),
) -> None:
    """Recognize ``source`` block by block until it ends or ``stop`` is set; the last segment is always final.

    After ``stop`` the blocks already captured are still recognized, so Ctrl-C loses nothing said before it.
    """
    stream = recognizer.create_stream(source.sample_rate, endpoint)
    while not stream.finished:
        try:
            block = source.read(timeout=0 if stop.is_set() else 0.1)
        except queue.Empty:
            if not stop.is_set():
                continue
            block = None
        if block is None:
            stream.end_input()
        else:
            stream.feed(torch.from_numpy(block))
        (output,) = recognizer.step([stream])
        for segment in output.ended:
            on_final(segment)
        if not output.finished:
            on_partial(output.partial)

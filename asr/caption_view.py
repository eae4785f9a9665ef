"""Captions on a terminal: the partial rewrites itself in place, each final is committed on its own line.

``TerminalCaptions`` shows only the tail of a long partial, so it stays on one line, and dims it
because it may still change; a final is printed as ``[mm:ss.s - mm:ss.s] text``, from its first
word's start to its last word's end (``Segment.spoken``), the times its SRT or WebVTT cues span.
"""

from __future__ import annotations

import shutil
from typing import TextIO

from asr.decoding import Segment

__all__ = ["TerminalCaptions"]


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(max(0.0, seconds), 60)
    return f"{int(minutes):02d}:{seconds:04.1f}"


class TerminalCaptions:
    """Prints captions to ``out``: live partials on a terminal, committed finals everywhere."""

    def __init__(self, out: TextIO, live: bool | None = None) -> None:
        self.out = out
        self.live = out.isatty() if live is None else live
        self._shown = ""
        self._partial = ""  # the latest partial, shown or not

    def partial(self, text: str) -> None:
        self._partial = text
        if not self.live or text == self._shown:
            return
        width = shutil.get_terminal_size((80, 24)).columns - 1
        tail = text if len(text) <= width else "…" + text[-(width - 1) :]
        self.out.write(f"\r\033[K\033[2m{tail}\033[0m")  # dim: it may still change
        self.out.flush()
        self._shown = text

    def final(self, segment: Segment) -> None:
        self._partial = ""
        if segment.transcript.text:
            start, end = segment.spoken
            self._commit(f"[{_clock(start)} - {_clock(end)}] {segment.transcript.text}")

    def cut_off(self) -> None:
        """The connection went while an utterance was in progress: commit its partial, marked, so it is not lost."""
        if self._partial:
            self._commit(f"(cut off by a lost connection) {self._partial}")
        self._partial = self._shown = ""

    def _commit(self, line: str) -> None:
        """Write ``line`` on a line of its own, in place of the partial shown."""
        clear = "\r\033[K" if self.live and self._shown else ""
        self.out.write(f"{clear}{line}\n")
        self.out.flush()
        self._shown = ""

    def clear(self) -> None:
        if self.live and self._shown:
            self.out.write("\r\033[K")
            self.out.flush()
            self._shown = ""

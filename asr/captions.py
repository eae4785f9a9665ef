"""Live captions: the local loop that drives the engine from a live source (asr/capture.py).

``caption_source`` feeds a stream a live source's blocks until the source ends or ``stop`` is set,
and hands each partial and each final to the caller, who shows them (asr/caption_view.py) and
writes them (asr/caption_files.py).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch

from asr.decoding import Segment
from asr.stream import Stream, StreamingRecognizer

__all__ = ["LiveSource", "caption_source"]


class LiveSource(Protocol):
    sample_rate: int

    def read(self, timeout: float | None = None) -> np.ndarray | None: ...


def caption_source(
    recognizer: StreamingRecognizer,
    stream: Stream,
    source: LiveSource,
    on_partial: Callable[[str], None],
    on_final: Callable[[Segment], None],
    stop: threading.Event,
) -> None:
    """Recognize ``source`` block by block in ``stream`` (made by ``recognizer`` at the source's sample rate, usually
    with endpointing and maybe hotwords) until the source ends or ``stop`` is set; the last segment is always final.

    After ``stop`` the blocks already captured are still recognized, so Ctrl-C loses nothing said before it.
    """
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

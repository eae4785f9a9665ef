"""Reading blocks of many files at once, in worker processes or inline, for batch transcription."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import numpy as np

from asr.audio import AudioError, read_block

__all__ = ["BlockReader"]


class BlockReader:
    """Reads blocks of files at their own rate: in worker processes when ``workers`` > 0, else inline.

    Each file in flight has its next block requested as soon as its current one is taken, so
    with workers, decoding overlaps the model's step.
    """

    def __init__(self, workers: int) -> None:
        # fork, as torch's DataLoader does: workers only run soundfile and numpy
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) if workers > 0 else None

    def submit(self, path: Path, start: int, frames: int) -> Future[np.ndarray]:
        if self._pool is not None:
            return self._pool.submit(read_block, path, start, frames)
        future: Future[np.ndarray] = Future()
        try:
            future.set_result(read_block(path, start, frames))
        except AudioError as error:
            future.set_exception(error)
        return future

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

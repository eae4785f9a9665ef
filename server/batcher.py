"""The inference workers that every session shares: cross-stream dynamic batching.

Sessions ``submit`` a step request (new audio for their stream, and whether the audio has
ended) and await its result. The scheduler, on the event loop, waits for a free worker
thread, collects requests until it has ``max_batch`` of them or ``max_wait`` has passed
since the first, then hands the whole batch to that worker, which feeds each stream and
runs one batched forward pass (``StreamingRecognizer.step``). While every worker computes,
new requests queue up and form the next batch, so the batch grows with the load and the
event loop never blocks on compute.

A stream may have only one request in flight; its session sends the next one after the
previous result, with whatever audio arrived in the meantime.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch

from asr.stream import StepOutput, Stream, StreamingRecognizer
from server.governor import SearchGovernor
from server.metrics import ServerMetrics

__all__ = ["Batcher"]

log = logging.getLogger("asr.server")


@dataclass
class _Request:
    stream: Stream
    audio: torch.Tensor | None  # (N,) float32 at the stream's sample rate
    end: bool
    future: asyncio.Future[StepOutput]
    queued_at: float


class Batcher:
    """Steps the streams of all sessions in batches on ``workers`` threads, one batch per thread at a time."""

    def __init__(
        self, recognizer: StreamingRecognizer, max_batch: int = 64, max_wait: float = 0.005, metrics: ServerMetrics | None = None, workers: int = 1,
        governor: SearchGovernor | None = None,
    ) -> None:  # fmt: skip
        """``governor``: told each batch's lag, it narrows the search while the server falls behind (None: the search keeps its beam)."""
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if max_wait < 0:
            raise ValueError(f"max_wait must be >= 0 seconds, got {max_wait}")
        self.recognizer = recognizer
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.metrics = metrics or ServerMetrics()
        self.governor = governor
        self._requests: asyncio.Queue[_Request] = asyncio.Queue()
        self._arrived = asyncio.Event()
        self._in_flight: set[int] = set()  # id() of streams with a request queued or computing
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asr-inference")
        self._free_workers = asyncio.Semaphore(workers)
        self._computing: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._schedule(), name="asr-batcher")

    async def close(self) -> None:
        """Stop scheduling; requests still queued fail with CancelledError."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, *self._computing, return_exceptions=True)
            self._task = None
        while not self._requests.empty():
            self._requests.get_nowait().future.cancel()
        self._executor.shutdown(wait=True)

    async def submit(self, stream: Stream, audio: torch.Tensor | None, end: bool = False) -> StepOutput:
        """Feed ``audio`` to ``stream`` (ending its input if ``end``), step it, and return what the step did."""
        if id(stream) in self._in_flight:
            raise ValueError("this stream already has a step in flight; await it before submitting again")
        if self._task is None:
            raise RuntimeError("Batcher.start() was not called")
        loop = asyncio.get_running_loop()
        request = _Request(stream, audio, end, loop.create_future(), time.perf_counter())
        self._in_flight.add(id(stream))
        self._requests.put_nowait(request)
        self._arrived.set()
        try:
            return await request.future
        finally:
            self._in_flight.discard(id(stream))

    async def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._free_workers.acquire()
            batch = [await self._requests.get()]
            await self._fill(batch, loop.time() + self.max_wait)
            batch = [r for r in batch if not r.future.done()]  # a vanished session cancelled its wait
            if not batch:
                self._free_workers.release()
                continue
            task = loop.create_task(self._step(batch))
            self._computing.add(task)
            task.add_done_callback(self._computing.discard)
            del batch  # waiting for the next one, this coroutine would still hold the streams of this one (and their lexicons)

    async def _step(self, batch: list[_Request]) -> None:
        """Compute one batch on a worker thread and hand each session its result."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        for request in batch:
            self.metrics.queue_seconds.observe(started - request.queued_at)
        try:
            results = await loop.run_in_executor(self._executor, self._compute, batch)
        except Exception as exc:  # a bug, not bad input: sessions validate audio before submitting
            log.exception("batched step failed", extra={"event": "step_failed", "batch": len(batch)})
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(exc)
            return
        finally:
            self._free_workers.release()
        finished = time.perf_counter()
        self.metrics.batch_size.observe(len(batch))
        self.metrics.compute_seconds.observe(finished - started)
        if self.governor is not None:
            self.governor.observe(finished - min(request.queued_at for request in batch), finished)
        for request, result in zip(batch, results):
            if not request.future.done():
                request.future.set_result(result)

    async def _fill(self, batch: list[_Request], deadline: float) -> None:
        """Add queued requests to ``batch`` until it is full or ``deadline`` (loop time) passes."""
        loop = asyncio.get_running_loop()
        while len(batch) < self.max_batch:
            while len(batch) < self.max_batch and not self._requests.empty():
                batch.append(self._requests.get_nowait())
            remaining = deadline - loop.time()
            if len(batch) >= self.max_batch or remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return

    def _compute(self, batch: list[_Request]) -> list[StepOutput]:
        """On the worker thread: feed every stream, then one batched step."""
        for request in batch:
            if request.audio is not None and request.audio.numel():
                request.stream.feed(request.audio)
            if request.end:
                request.stream.end_input()
        return self.recognizer.step([request.stream for request in batch])

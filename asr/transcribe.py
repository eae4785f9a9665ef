"""Batch transcription of files, directories and manifests through the streaming engine.

Each file is read in blocks and fed to a stream chunk by chunk with its state carried
over, and the endpointer cuts it into utterances at pauses, each decoded on its own; so a
file of any length runs in bounded memory (a search never spans more than one utterance, at
most 20 s) and gets the same text for any block size. Many files are in flight at once:
every step feeds each of them its next block and runs one batched forward pass, and a
finished file's slot goes to the next one (longest files first, so the batch stays full). A
file that fails is reported with its path and reason; the rest finish.
"""

from __future__ import annotations

import itertools
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TextIO

import numpy as np
import torch
from tqdm import tqdm

from asr.audio import SAMPLE_RATE, AudioError, audio_info, iter_audio
from asr.block_reader import BlockReader
from asr.decoding import Hotwords, Segment, joined_segments
from asr.endpoint import EndpointConfig
from asr.formats import FileTranscript
from asr.inputs import InputFile, collect_inputs, input_duration
from asr.outputs import OutputSink
from asr.shard import Shard
from asr.stream import Stream, StreamingRecognizer
from asr.worker_pool import processes_that_fit, run_in_processes, usable_cores

__all__ = ["transcribe_file", "transcribe_many", "transcribe_in_processes", "transcribe_all", "auto_processes"]

BLOCK_SECONDS = 10.0
# A child takes about 5 s to import torch and load the default model: on 2 cores, 2 processes broke even with one at
# 2 minutes of audio (8.6-8.8 s against 8.8-9.0 s) and won by 20% at 5.4 minutes (11.9 s against 14.8 s).
PARALLEL_MIN_SECONDS = 180.0
MAX_AUTO_PROCESSES = 8
PROCESS_MEMORY = 1.5e9  # bytes a process holds: 1.44 GB at most, measured with the default model and search on 100 test files
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n:.2f}/{total:.2f} h audio [{elapsed}<{remaining}{postfix}]"


def transcribe_file(recognizer: StreamingRecognizer, path: Path, given: str | None = None, hotwords: Hotwords = ()) -> FileTranscript:
    """Transcribe one file in ``BLOCK_SECONDS`` blocks, utterance by utterance; raises AudioError for unusable audio."""
    stream = recognizer.create_stream(endpoint=EndpointConfig(), hotwords=hotwords)
    segments: list[Segment] = []
    for block in itertools.chain(iter_audio(path, block_seconds=BLOCK_SECONDS), [None]):  # None: the end
        if block is None:
            stream.end_input()
        else:
            stream.feed(block)
        (output,) = recognizer.step([stream])
        segments += output.ended
    best, *alternatives = joined_segments(segments)
    return FileTranscript(given if given is not None else str(path), best, stream.samples_received / SAMPLE_RATE, tuple(alternatives))


@dataclass
class _Slot:
    """One file in flight: its input, its stream (at the file's rate), and its next block."""

    item: InputFile
    stream: Stream
    frames: int  # in the file
    block_frames: int
    position: int = 0  # frames requested so far
    pending: Future[np.ndarray] | None = None  # None: the file has been read to its end
    segments: list[Segment] = field(default_factory=list)  # utterances ended so far

    def request_next(self, reader: BlockReader) -> None:
        self.pending = reader.submit(self.item.audio, self.position, self.block_frames) if self.position < self.frames else None
        self.position += self.block_frames


def _open_slot(recognizer: StreamingRecognizer, item: InputFile, block_seconds: float, reader: BlockReader, hotwords: Hotwords) -> _Slot:
    """Raises AudioError for a file that cannot be used."""
    rate, frames = audio_info(item.audio)
    stream = recognizer.create_stream(rate, endpoint=EndpointConfig(), hotwords=hotwords)
    slot = _Slot(item, stream, frames, max(1, int(block_seconds * rate)))
    slot.request_next(reader)
    return slot


def transcribe_many(
    recognizer: StreamingRecognizer,
    items: Sequence[InputFile],
    batch_size: int = 32,
    block_seconds: float = BLOCK_SECONDS,
    workers: int = 0,
    hotwords: Hotwords = (),
) -> Iterator[tuple[InputFile, FileTranscript | AudioError]]:
    """Transcribe ``items`` ``batch_size`` at a time in one batched step; yields each as it finishes.

    ``workers`` processes decode the audio. Results equal ``transcribe_file`` on each file alone
    (the engine's batch == single stream, and its resampler is chunking-exact).
    """
    waiting = sorted(items, key=input_duration)  # pop() from the end takes the longest first
    active: list[_Slot] = []
    reader = BlockReader(workers)
    try:
        while waiting or active:
            while waiting and len(active) < batch_size:
                item = waiting.pop()
                try:
                    active.append(_open_slot(recognizer, item, block_seconds, reader, hotwords))
                except AudioError as error:
                    yield item, error
            ended = []
            for slot in list(active):
                try:
                    _feed_next(slot, reader)
                except AudioError as error:
                    active.remove(slot)
                    yield slot.item, error
                    continue
                if slot.stream.input_ended:
                    ended.append(slot)
            for slot, output in zip(active, recognizer.step([slot.stream for slot in active])):
                slot.segments += output.ended
            for slot in ended:
                active.remove(slot)
                best, *alternatives = joined_segments(slot.segments)
                yield slot.item, FileTranscript(slot.item.given, best, slot.stream.samples_received / SAMPLE_RATE, tuple(alternatives))
    finally:
        reader.close()


def _feed_next(slot: _Slot, reader: BlockReader) -> None:
    """Give the slot's stream its next block (and ask for the one after), or end its input."""
    if slot.pending is None:
        slot.stream.end_input()
        return
    block = slot.pending.result()
    if len(block) < slot.block_frames:  # the last block
        slot.position = slot.frames
    slot.request_next(reader)
    slot.stream.feed(torch.from_numpy(block))


def transcribe_in_processes(
    build: Callable[[], StreamingRecognizer], items: Sequence[InputFile], processes: int, batch_size: int = 32,
    workers: int = 0, hotwords: Hotwords = (),
) -> Iterator[tuple[InputFile, FileTranscript | AudioError]]:  # fmt: skip
    """``transcribe_many`` shared by ``processes`` processes, each with the recognizer ``build`` makes (it must pickle).

    The files go out longest first in chunks, each to the next free process, so all of them stay busy to the end;
    results come back as each file finishes and equal ``transcribe_many``'s. ``workers``: audio decoders per process.
    """
    ordered = sorted(items, key=input_duration, reverse=True)
    size = max(1, min(2 * batch_size, math.ceil(len(ordered) / (2 * processes))))  # at least two chunks per process
    chunks = [ordered[start : start + size] for start in range(0, len(ordered), size)]
    task = partial(_transcribe_chunk, batch_size=batch_size, workers=workers, hotwords=hotwords)
    for _, result in run_in_processes(build, task, chunks, processes, describe=_describe_chunk):
        yield result


def _transcribe_chunk(
    recognizer: StreamingRecognizer, chunk: list[InputFile], batch_size: int, workers: int, hotwords: Hotwords
) -> Iterator[tuple[InputFile, FileTranscript | AudioError]]:
    return transcribe_many(recognizer, chunk, batch_size, workers=workers, hotwords=hotwords)


def _describe_chunk(chunk: list[InputFile]) -> str:
    return f"{len(chunk)} files from {chunk[0].given}" if len(chunk) > 1 else chunk[0].given


def auto_processes(files: int, audio_seconds: float) -> int:
    """How many processes share a run by default: one per core (at most ``MAX_AUTO_PROCESSES``, one per file, and
    as many as the free memory holds at ``PROCESS_MEMORY`` each) when there are ``PARALLEL_MIN_SECONDS`` of audio or
    more, else one."""
    if audio_seconds < PARALLEL_MIN_SECONDS:
        return 1
    return max(1, min(files, processes_that_fit(PROCESS_MEMORY, MAX_AUTO_PROCESSES)))


def transcribe_all(
    recognizer: StreamingRecognizer | Callable[[], StreamingRecognizer],
    paths: Sequence[str],
    fmt: str,
    out_dir: Path | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    overwrite: bool = False,
    batch_size: int = 32,
    shard: Shard = Shard(),
    workers: int | None = 0,
    hotwords: Hotwords = (),
    processes: int | None = 1,
) -> int:
    """Transcribe every input and write ``fmt`` outputs; returns how many inputs failed (in all shards).

    ``recognizer``: the engine, or a function that builds it, called only once there is work, and in every
    child process when ``processes`` > 1 (where it must pickle: a module-level function or a partial of one).
    ``processes``: None picks ``auto_processes``. ``workers``: audio decoders per process (None: all cores but 2 of
    this process's share of the machine, at most 8; none on 2 cores, where they measured slower). Without ``out_dir`` results go to ``stdout`` in input order.
    With it, each file gets ``<out_dir>/<name>.<fmt>``, written atomically, and jsonl goes to
    ``<out_dir>/transcripts.jsonl`` (asr/outputs.py). Files whose output is already there are skipped unless
    ``overwrite``, so an interrupted run resumes. Under torchrun each process takes its ``shard`` of the files,
    and the outputs are the same as one process would write.
    """
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    items = list(collect_inputs(paths))
    failures: list[tuple[str, str]] = [item for item in items if isinstance(item, tuple)] if shard.rank == 0 else []
    files = [item for item in items if isinstance(item, InputFile)]
    sink = OutputSink(fmt, out_dir, [item.given for item in files], stdout, overwrite, part=shard.rank if shard.world > 1 else None)
    mine = shard.select(files)
    todo = [item for item in mine if not sink.done(item.given, item.output_stem)]
    if len(todo) < len(mine):
        print(f"skipping {len(mine) - len(todo)} files already transcribed in {out_dir} (--overwrite redoes them)", file=stderr)
    seconds = {item.given: input_duration(item) for item in todo}
    if not todo:
        processes = 1  # nothing to start processes for
    elif processes is None:
        processes = auto_processes(len(todo), sum(seconds.values()))
    if processes > 1 and isinstance(recognizer, StreamingRecognizer):
        raise ValueError("several processes need a function that builds the recognizer, not a recognizer")
    if workers is None:
        workers = max(0, min(8, usable_cores() // (shard.world * processes) - 2))
    with _Progress(seconds, stderr, processes, enabled=shard.rank == 0) as progress:
        if processes > 1:
            results = transcribe_in_processes(recognizer, todo, processes, batch_size, workers, hotwords)  # type: ignore[arg-type]
        else:
            engine = recognizer if isinstance(recognizer, StreamingRecognizer) or not todo else recognizer()
            results = transcribe_many(engine, todo, batch_size, workers=workers, hotwords=hotwords)  # type: ignore[arg-type]
        for item, result in results:
            if isinstance(result, AudioError):
                failures.append((item.given, str(result)))
                sink.skip(item.given)
            else:
                sink.write(item.given, item.output_stem, result)
            progress.advance(item)
    sink.close()
    if shard.world > 1:
        gathered = shard.gather((failures, sink.collected))
        failures = [failure for part, _ in gathered for failure in part]
        if shard.rank == 0:
            sink.finish_shards([collected for _, collected in gathered])
        shard.barrier()
    if shard.rank == 0:
        for given, reason in failures:
            message = reason if reason.startswith(given) else f"{given}: {reason}"
            print(f"error: {message}", file=stderr)
        if failures:
            print(f"{len(failures)} of {len(items)} inputs failed", file=stderr)
    return len(failures)


class _Progress:
    """A progress bar over audio seconds, with files done and the speed in x real time."""

    def __init__(self, seconds: dict[str, float], stream: TextIO, processes: int = 1, enabled: bool = True) -> None:
        """``seconds``: each file's duration, by its given name."""
        self._seconds = seconds
        self._files, self._done = len(seconds), 0
        self._started = time.perf_counter()
        total = sum(seconds.values())
        disable = None if enabled else True  # None: on when the stream is a terminal
        desc = "transcribing" if processes == 1 else f"transcribing in {processes} processes"
        self._bar = tqdm(total=total / 3600, unit="h", desc=desc, file=stream, disable=disable, bar_format=BAR_FORMAT)

    def advance(self, item: InputFile) -> None:
        self._done += 1
        self._bar.update(self._seconds.get(item.given, 0.0) / 3600)
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        speed = self._bar.n * 3600 / elapsed
        self._bar.set_postfix_str(f"{self._done}/{self._files} files, {speed:.0f}x real time")

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.close()


"""Tasks dealt out to worker processes, each of which builds what it works with once.

flashlight-text's lexicon search never releases Python's interpreter lock (server/processes.py
says more), and at the shipped beam it is most of what a CPU run spends, so one process
transcribes on one core however many threads torch has. Here ``processes`` children, started
with ``spawn`` (fork would copy torch's threads and locks), each build their worker once with
``build`` (a recognizer, say) and then take tasks from one queue as they free up, so a slow
task never holds the rest back. A task yields results, which come back as they are made.

A child that cannot build its worker (a bad model path) stops the run with its error as
ValueError, as one process would raise it; a task that raises stops it with RuntimeError, and
so does a child that dies (killed, out of memory), naming the task it held. The results that
came before are the caller's to keep. However the run ends, every child is stopped.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

__all__ = ["run_in_processes", "usable_cores", "available_memory", "processes_that_fit"]

W = TypeVar("W")
T = TypeVar("T")
R = TypeVar("R")

_BUILD_FAILED, _STARTED, _RESULT, _TASK_FAILED, _DONE = "build-failed", "started", "result", "task-failed", "done"


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity, which containers and taskset narrow)."""
    return len(os.sched_getaffinity(0))


def available_memory() -> int | None:
    """Bytes of memory the kernel can give new processes (MemAvailable); None where /proc/meminfo does not say."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def processes_that_fit(memory_each: float, most: int) -> int:
    """One process per usable core, but at most ``most`` and no more than the free memory holds at ``memory_each``
    bytes each (where the kernel says how much is free); always at least one."""
    memory = available_memory()
    fit = int(memory // memory_each) if memory is not None else most
    return max(1, min(usable_cores(), most, fit))


def run_in_processes(
    build: Callable[[], W], task: Callable[[W, T], Iterable[R]], items: Sequence[T], processes: int, describe: Callable[[T], str] = str,
) -> Iterator[tuple[int, R]]:  # fmt: skip
    """(item index, result) for every result ``task(worker, item)`` yields, ``worker`` being what ``build()`` returned
    in the child that took the item; in the order they are made. ``build`` and ``task`` must pickle (module-level
    functions, or partials of them); each child runs torch on its share of the cores. ``describe`` names an item in errors.
    """
    if processes < 1:
        raise ValueError(f"processes must be at least 1, got {processes}")
    threads = max(1, usable_cores() // processes)
    context = multiprocessing.get_context("spawn")
    tasks: multiprocessing.Queue[tuple[int, T] | None] = context.Queue()
    for index, item in enumerate(items):
        tasks.put((index, item))
    for _ in range(processes):
        tasks.put(None)  # one stop sign each, after the tasks
    # One pipe back from each child: its messages arrive whole and in order, even from a child that then dies.
    children: dict[Connection, BaseProcess] = {}
    try:
        for number in range(processes):
            reader, writer = context.Pipe(duplex=False)
            child = context.Process(target=_child, args=(build, task, threads, tasks, writer), name=f"asr-worker-{number}", daemon=True)
            child.start()
            writer.close()  # the child's copy is the one that counts: its end of the pipe closes when it exits
            children[reader] = child
        yield from _collect(children, len(items), items, describe)
    finally:
        for child in children.values():
            if child.is_alive():
                child.terminate()
        for child in children.values():
            child.join()
        tasks.cancel_join_thread()  # tasks nobody took: nothing waits for them


def _collect(children: dict[Connection, BaseProcess], left: int, items: Sequence[Any], describe: Callable[[Any], str]) -> Iterator[tuple[int, Any]]:
    """The children's results until ``left`` tasks are done; raises for a child's failure."""
    held: dict[Connection, int] = {}  # the task each child is on
    while left:
        if not children:
            raise RuntimeError(f"the worker processes stopped with {left} tasks not done")
        for reader in wait(list(children)):
            try:
                kind, index, payload = reader.recv()
            except EOFError:  # the child has exited
                child = children.pop(reader)
                child.join()
                if child.exitcode != 0:
                    on = f" while on {describe(items[held[reader]])}" if reader in held else ""
                    raise RuntimeError(f"worker process {child.name} died (exit code {child.exitcode}){on}") from None
                continue
            if kind == _BUILD_FAILED:
                raise ValueError(payload)
            if kind == _TASK_FAILED:
                raise RuntimeError(f"{describe(items[index])}: {payload}")
            if kind == _STARTED:
                held[reader] = index
            elif kind == _RESULT:
                yield index, payload
            else:  # _DONE
                held.pop(reader, None)
                left -= 1


def _child(build: Callable[[], Any], task: Callable[[Any, Any], Iterable[Any]], threads: int, tasks: multiprocessing.Queue, out: Connection) -> None:
    """One worker: build, then run tasks until the stop sign, reporting each task's start, results and end."""
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops every child
    torch.set_num_threads(threads)
    try:
        worker = build()
    except Exception as error:  # whatever it is, the parent reports it; this child has nothing to do without it
        out.send((_BUILD_FAILED, -1, str(error)))
        return
    for message in iter(tasks.get, None):
        index, item = message
        out.send((_STARTED, index, None))
        try:
            for result in task(worker, item):
                out.send((_RESULT, index, result))
        except Exception as error:
            out.send((_TASK_FAILED, index, f"{type(error).__name__}: {error}"))
            return
        out.send((_DONE, index, None))

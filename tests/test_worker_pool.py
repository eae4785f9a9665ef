"""Worker processes: every result comes back once, and a failing child stops the run with a clear error."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from asr import worker_pool
from asr.worker_pool import processes_that_fit, run_in_processes


def scaled_by(factor: int, everyone_up: Any = None) -> dict[str, int]:
    if everyone_up is not None:  # a barrier: no child starts on the tasks before all of them can
        everyone_up.wait(timeout=120)
    return {"factor": factor, "pid": os.getpid()}


def multiples(worker: dict[str, int], item: int) -> Iterator[tuple[int, int, int]]:
    """Three results per item: (item, item x factor x k, the child's pid)."""
    for k in range(1, 4):
        yield item, item * worker["factor"] * k, worker["pid"]
    time.sleep(0.05 * (1 + item % 3))  # uneven tasks, so the children take turns


def cannot_build() -> None:
    raise FileNotFoundError("models/nowhere/model.pt not found")


def fails_on_seven(worker: dict[str, int], item: int) -> Iterator[int]:
    if item == 7:
        raise ArithmeticError("seven is unlucky")
    yield item


def dies_on_seven(worker: dict[str, int], item: int, how: str) -> Iterator[int]:
    if item == 7:
        if how == "exit":
            os._exit(3)
        os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's out-of-memory killer would
    yield item


def test_every_result_of_every_item_comes_back_once_from_several_children() -> None:
    everyone_up = multiprocessing.get_context("spawn").Barrier(2)  # else, on a busy machine, one child may take every task
    results = list(run_in_processes(partial(scaled_by, 10, everyone_up), multiples, list(range(20)), processes=2, describe=lambda item: f"item {item}"))
    assert sorted(value for _, (_, value, _) in results) == sorted(item * 10 * k for item in range(20) for k in range(1, 4))
    assert all(index == item for index, (item, _, _) in results)  # the index is the item's position
    assert len({pid for _, (_, _, pid) in results}) == 2 and os.getpid() not in {pid for _, (_, _, pid) in results}


def test_a_child_that_cannot_build_its_worker_raises_its_error() -> None:
    with pytest.raises(ValueError, match="models/nowhere/model.pt not found"):
        list(run_in_processes(cannot_build, multiples, [1, 2, 3], processes=2))


def test_a_task_that_raises_stops_the_run_naming_the_item() -> None:
    with pytest.raises(RuntimeError, match="item 7: ArithmeticError: seven is unlucky"):
        list(run_in_processes(partial(scaled_by, 1), fails_on_seven, list(range(10)), processes=2, describe=lambda item: f"item {item}"))


@pytest.mark.parametrize("how, code", [("exit", "3"), ("kill", "-9")])
def test_a_child_that_dies_stops_the_run_naming_what_it_held(how: str, code: str) -> None:
    task = partial(dies_on_seven, how=how)
    with pytest.raises(RuntimeError, match=rf"died \(exit code {code}\) while on item 7"):
        list(run_in_processes(partial(scaled_by, 1), task, list(range(10)), processes=2, describe=lambda item: f"item {item}"))


def test_no_processes_is_refused() -> None:
    with pytest.raises(ValueError, match="processes must be at least 1, got 0"):
        list(run_in_processes(partial(scaled_by, 1), multiples, [1], processes=0))


def test_processes_that_fit_follow_cores_the_cap_and_free_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_pool, "usable_cores", lambda: 16)
    monkeypatch.setattr(worker_pool, "available_memory", lambda: int(64e9))
    assert processes_that_fit(1e9, most=8) == 8
    assert processes_that_fit(1e9, most=32) == 16
    monkeypatch.setattr(worker_pool, "available_memory", lambda: int(3.5e9))
    assert processes_that_fit(1e9, most=8) == 3
    monkeypatch.setattr(worker_pool, "available_memory", lambda: int(0.2e9))
    assert processes_that_fit(1e9, most=8) == 1  # never none
    monkeypatch.setattr(worker_pool, "available_memory", lambda: None)  # not Linux: cores and the cap alone
    monkeypatch.setattr(worker_pool, "usable_cores", lambda: 2)
    assert processes_that_fit(1e9, most=8) == 2


def test_available_memory_is_what_the_kernel_reports() -> None:
    memory = worker_pool.available_memory()
    assert memory is None or 0 < memory <= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")

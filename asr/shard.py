"""Several processes on one job (torchrun): joining the process group, splitting work, gathering results.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK. Each process then uses the GPU of its local
rank (or the CPU), and the processes talk over NCCL on GPUs or gloo on CPUs. Without torchrun
there is one process, and every call here is a no-op.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

__all__ = ["Shard", "join_process_group", "leave_process_group"]

T = TypeVar("T")


def join_process_group(want_cuda: bool = True) -> tuple[torch.device, int, int]:
    """(device, rank, world size) of this process, joining the process group when launched by torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if want_cuda and torch.cuda.is_available():
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device, rank, world_size


def leave_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


@dataclass(frozen=True)
class Shard:
    """This process's share of a job: every ``world``-th item, starting at ``rank``."""

    rank: int = 0
    world: int = 1

    def select(self, items: Sequence[T]) -> list[T]:
        return list(items[self.rank :: self.world])

    def gather(self, value: Any) -> list[Any]:
        """Every process's ``value``, in rank order, on every process."""
        if self.world == 1:
            return [value]
        gathered: list[Any] = [None] * self.world
        dist.all_gather_object(gathered, value)
        return gathered

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

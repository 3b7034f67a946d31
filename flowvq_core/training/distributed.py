"""One GPU or many without changing code: under ``torchrun`` the process group is set up from its environment
(gloo on CPUs, NCCL on GPUs), each rank trains on its own batches, gradients are averaged by
DistributedDataParallel, and only rank 0 writes logs and checkpoints."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Ranks:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def setup(device: str = "auto") -> Ranks:
    """The process's rank and device; initialises the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    target = torch.device(device)
    if target.type == "cuda" and world > 1:
        target = torch.device("cuda", local)
        torch.cuda.set_device(target)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if target.type == "cuda" else "gloo")
    return Ranks(rank, world, target)


def barrier(ranks: Ranks) -> None:
    if ranks.distributed:
        dist.barrier()


def gather(ranks: Ranks, value: object) -> list[object]:
    """Every rank's ``value`` (on every rank)."""
    if not ranks.distributed:
        return [value]
    values: list[object] = [None] * ranks.world
    dist.all_gather_object(values, value)
    return values


def teardown(ranks: Ranks) -> None:
    if ranks.distributed and dist.is_initialized():
        dist.destroy_process_group()


def broadcast(ranks: Ranks, module: torch.nn.Module) -> None:
    """Rank 0's parameters and buffers to every rank (after a step that changed them differently per rank)."""
    if ranks.distributed:
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, 0)


def wrapper(ranks: Ranks, *, find_unused_parameters: bool = False):
    """A function that wraps a module in DistributedDataParallel when running distributed, else None."""
    if not ranks.distributed:
        return None
    device_ids = [ranks.device.index] if ranks.device.type == "cuda" else None

    def wrap(module: torch.nn.Module) -> torch.nn.Module:
        return torch.nn.parallel.DistributedDataParallel(
            module, device_ids=device_ids, find_unused_parameters=find_unused_parameters
        )

    return wrap

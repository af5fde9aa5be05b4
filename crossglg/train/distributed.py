"""PyTorch DDP set-up for runs launched by ``torchrun`` (one process per GPU, gloo on CPU).

Nothing here distributes work by itself: torchrun starts the processes and sets RANK,
WORLD_SIZE and LOCAL_RANK; without them the run is a single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup(device: str) -> tuple[Dist, str]:
    """Initialise the process group when torchrun started us; return the device to use."""
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not device:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and world > 1:
        device = f"cuda:{local}"
        torch.cuda.set_device(local)
    if world > 1:
        import torch.distributed as tdist

        tdist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    return Dist(rank=rank, world=world, local_rank=local), device


def teardown(dist: Dist) -> None:
    if dist.enabled:
        import torch.distributed as tdist

        tdist.destroy_process_group()


def barrier(dist: Dist) -> None:
    if dist.enabled:
        import torch.distributed as tdist

        tdist.barrier()


def all_mean(dist: Dist, values: list[float], device: str) -> list[float]:
    """Average per-rank scalars (loss, accuracy) so rank 0 logs the global figure."""
    if not dist.enabled:
        return values
    import torch
    import torch.distributed as tdist

    t = torch.tensor(values, dtype=torch.float64, device=device)
    tdist.all_reduce(t)
    return (t / dist.world).tolist()

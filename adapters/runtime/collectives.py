"""The process group as the adapters see it: rank, world size and the few collectives they use.

Every collective is a no-op (or the identity) in a single process, so a decorator built on a
``ProcessGroup`` behaves exactly as its inner object when there is only one rank. Collectives run
on ``device``: CUDA under NCCL, CPU under gloo (the runtime picks the backend from the device).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.distributed as dist


class ProcessGroup:
    """torch.distributed's default group, or a single process when ``world_size`` is 1."""

    def __init__(self, *, rank: int, world_size: int, device: str | torch.device = "cpu") -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size), got rank {rank} of {world_size}")
        if world_size > 1 and not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError(f"world size {world_size} but no torch.distributed process group is initialised")
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.device = torch.device(device)

    @classmethod
    def single(cls) -> ProcessGroup:
        return cls(rank=0, world_size=1)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def topology(self) -> str:
        """"single" or "distributed": what a composition root selects the distributed decorators by."""
        return "distributed" if self.distributed else "single"

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    @contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the block first, the others after it (e.g. a shared download or cache)."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()

    def broadcast_object(self, value: Any, *, src: int = 0) -> Any:
        """``src``'s (picklable) ``value`` on every rank."""
        if not self.distributed:
            return value
        box = [value if self.rank == src else None]
        dist.broadcast_object_list(box, src=src, device=self._object_device())
        return box[0]

    def broadcast_(self, tensor: torch.Tensor, *, src: int = 0) -> torch.Tensor:
        """Overwrites ``tensor`` in place with ``src``'s."""
        if self.distributed:
            in_place = tensor.device == self.device and tensor.is_contiguous()
            staged = tensor.detach() if in_place else tensor.detach().to(self.device).contiguous()
            dist.broadcast(staged, src=src)
            if not in_place:
                tensor.detach().copy_(staged)
        return tensor

    def all_reduce_mean(self, tensor: torch.Tensor) -> torch.Tensor:
        """A new tensor: the mean of ``tensor`` over the ranks (a gradient hook can return it)."""
        if not self.distributed:
            return tensor
        staged = tensor.detach().to(self.device, copy=True)
        dist.all_reduce(staged)
        return staged.div_(self.world_size).to(tensor.device)

    def all_gather_rows(self, tensor: torch.Tensor) -> torch.Tensor:
        """Every rank's ``tensor`` concatenated along dim 0 in rank order; the row counts may
        differ between ranks (each is padded to the largest for the exchange, then trimmed)."""
        if not self.distributed:
            return tensor
        local = tensor.detach().to(self.device).contiguous()
        counts = torch.zeros(self.world_size, dtype=torch.long, device=self.device)
        counts[self.rank] = local.shape[0]
        dist.all_reduce(counts)
        largest = int(counts.max())
        padded = local.new_zeros((largest, *local.shape[1:]))
        padded[: local.shape[0]] = local
        parts = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(parts, padded)
        gathered = torch.cat([part[: int(n)] for part, n in zip(parts, counts.tolist())])
        return gathered.to(tensor.device)

    def _object_device(self) -> torch.device | None:
        return self.device if self.device.type == "cuda" else None

    def __repr__(self) -> str:
        return f"ProcessGroup(rank={self.rank}, world_size={self.world_size}, device={self.device})"

"""A memory updated with the whole global batch under data parallelism.

Each rank computes its loss against the memory with its own batch, but every rank's copy of the
memory must move with every sample of the step, or the copies drift apart and each sees only
1/world of the data. OpenUnReID all-gathers for the same reason; here the gather is a decorator,
so the memories themselves stay single-process code.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import torch
from torch import Tensor

from reidkit.adapters.runtime.collectives import ProcessGroup


class UpdatableMemory(Protocol):
    def targets(self, batch: Mapping[str, Tensor]) -> Tensor: ...

    def loss(self, inputs: Tensor, targets: Tensor) -> Tensor: ...

    def update(self, inputs: Tensor, targets: Tensor) -> None: ...


class GlobalMemoryUpdate:
    """``targets`` and ``loss`` are the inner memory's, on the local batch; ``update`` gathers the
    (detached) inputs and their targets from every rank, in rank order, and updates the inner
    memory with them all: exactly what one process would do with the concatenated batch."""

    def __init__(self, inner: UpdatableMemory, group: ProcessGroup) -> None:
        self.inner = inner
        self.group = group

    def targets(self, batch: Mapping[str, Tensor]) -> Tensor:
        return self.inner.targets(batch)

    def loss(self, inputs: Tensor, targets: Tensor) -> Tensor:
        return self.inner.loss(inputs, targets)

    def update(self, inputs: Tensor, targets: Tensor) -> None:
        gathered_inputs = self.group.all_gather_rows(inputs.detach())
        gathered_targets = self.group.all_gather_rows(targets)
        self.inner.update(gathered_inputs, gathered_targets)

    def to(self, device: str | torch.device) -> GlobalMemoryUpdate:
        mover = getattr(self.inner, "to", None)
        if mover is not None:
            self.inner = mover(device)
        return self

    def parameters(self) -> Iterator[Any]:
        """The inner memory's trainable parameters (a learnt temperature), for gradient averaging."""
        parameters = getattr(self.inner, "parameters", None)
        return iter(parameters() if parameters is not None else ())

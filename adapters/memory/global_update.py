"""A memory updated with the whole global batch under data parallelism.

Each rank computes its loss against the memory with its own batch, but every rank's copy of the
memory must move with every sample of the step, or the copies drift apart and each sees only
1/world of the data. OpenUnReID all-gathers for the same reason; here the gather is a decorator,
so the memories themselves stay single-process code.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, TypeVar

import torch
from torch import Tensor

from reidkit.adapters.runtime.collectives import ProcessGroup
from reidkit.domain.ports import MemoryBank
from reidkit.domain.types import FeatureMatrix, PseudoLabels

B = TypeVar("B")


class GlobalMemoryUpdate(Generic[B]):
    """A ``MemoryBank`` decorator: everything is the inner memory's, on the local batch, except
    ``update``, which gathers the (detached) inputs and their targets from every rank, in rank
    order, and updates the inner memory with them all: exactly what one process would do with the
    concatenated batch. One object serves the training step, the epoch's label consumers, the
    feature source and the checkpoint (``state_dict`` is the inner memory's, so a checkpoint reads
    the same with or without the decorator)."""

    def __init__(self, inner: MemoryBank[B, Tensor], group: ProcessGroup) -> None:
        self.inner = inner
        self.group = group

    @property
    def initialized(self) -> bool:
        return self.inner.initialized

    def initialize(self, rows: FeatureMatrix) -> None:
        self.inner.initialize(rows)

    def reset(self, features: FeatureMatrix, labels: PseudoLabels) -> None:
        self.inner.reset(features, labels)

    def snapshot(self) -> FeatureMatrix:
        return self.inner.snapshot()

    def targets(self, batch: B) -> Tensor:
        return self.inner.targets(batch)

    def loss(self, inputs: Tensor, targets: Tensor) -> Tensor:
        return self.inner.loss(inputs, targets)

    def update(self, inputs: Tensor, targets: Tensor) -> None:
        gathered_inputs = self.group.all_gather_rows(inputs.detach())
        gathered_targets = self.group.all_gather_rows(targets)
        self.inner.update(gathered_inputs, gathered_targets)

    def to(self, device: str | torch.device) -> GlobalMemoryUpdate[B]:
        mover = getattr(self.inner, "to", None)
        if mover is not None:
            self.inner = mover(device)
        return self

    def parameters(self) -> Iterator[Any]:
        """The inner memory's trainable parameters (a learnt temperature), for gradient averaging."""
        parameters = getattr(self.inner, "parameters", None)
        return iter(parameters() if parameters is not None else ())

    def state_dict(self) -> dict:
        return self.inner.state_dict()  # type: ignore[attr-defined]

    def load_state_dict(self, state: dict) -> object:
        return self.inner.load_state_dict(state)  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"GlobalMemoryUpdate({self.inner!r}, {self.group!r})"

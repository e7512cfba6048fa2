"""MemoryContrastStep: one step of SpCL or Cluster Contrast training against a feature memory.

    f      <- L2-normalise(model(images).embeddings)      (post-BNNeck, as both papers)
    rows   <- memory.targets(batch)                       (cluster ids, or memory row indexes)
    loss   <- memory.loss(f, rows); backward; optimiser step
    memory.update(f.detach(), rows)                       (momentum update, explicit)

Upstream updates the memory inside the autograd backward pass, with the same forward features;
doing it explicitly after the step gives the same numbers and makes the update visible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from reidkit.adapters.data.batch import TrainingBatch
from reidkit.adapters.models.dsbn import domains
from reidkit.adapters.steps.base import EpochSchedule, OptimizingStep, StepRuntime
from reidkit.domain.ports import MemoryBank
from reidkit.domain.types import StepReport


class Embeddings(nn.Module):
    """The model's post-BNNeck embeddings alone: what DDP sees as the forward's output, so a
    classifier the memory loss never uses counts as unused rather than as a missing gradient."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images).embeddings


class MemoryContrastStep(OptimizingStep):
    """Implements ``TrainingStep[TrainingBatch]``. The memory is a separate checkpoint component
    (its size follows the labels); this step saves the model, optimiser, schedule and grad scaler.
    ``runtime.replicas`` as in SupervisedStep; a memory's own trainable parameters (a learnt
    temperature) have their gradients averaged over the ranks as well."""

    stream = "memory-contrast-step"
    state_keys = ("model", "optimizer")

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        memory: MemoryBank[TrainingBatch, torch.Tensor],
        *,
        scheduler: EpochSchedule | None = None,
        runtime: StepRuntime | None = None,
    ) -> None:
        super().__init__(optimizer, scheduler=scheduler, runtime=runtime)
        self.model = model.to(self.device)
        mover = getattr(memory, "to", None)
        self.memory = mover(self.device) if callable(mover) else memory
        self.replicas.average_gradients(self.memory)

    @property
    def forward(self) -> nn.Module:
        """Images -> embeddings, wrapped afresh each epoch (a method may resize the model's head)."""
        return self._wrapped_forward()

    def step_modules(self) -> Sequence[nn.Module]:
        return (self.model,)

    def _wrap(self) -> nn.Module:
        return self.replicas.wrap(Embeddings(self.model), find_unused_parameters=True)

    def run(self, batch: TrainingBatch) -> StepReport:
        batch = batch.to(self.device)
        self._begin_step()
        with domains(self.model, batch.domains), self.precision.autocast():
            embeddings = self.forward(batch.images)
        features = F.normalize(embeddings.float(), dim=1)
        targets = self.memory.targets(batch)
        loss = self.memory.loss(features, targets)
        applied = self._optimize(loss)
        if applied:
            self.memory.update(features.detach(), targets)
        return self._report({"contrast": loss, "total": loss}, len(batch), applied=applied)

    def _own_state(self) -> dict[str, Any]:
        return {"model": self.model.state_dict()}

    def _load_own_state(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])

"""SupervisedStep: one optimisation step of weighted losses on the model's outputs (BoT's ID
cross-entropy + batch-hard triplet, see ``id_and_triplet_losses``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from reidkit.adapters.data.batch import TrainingBatch
from reidkit.adapters.losses.weighted import WeightedLoss
from reidkit.adapters.models.dsbn import domains
from reidkit.adapters.steps.base import EpochSchedule, OptimizingStep, StepRuntime
from reidkit.domain.types import StepReport


class SupervisedStep(OptimizingStep):
    """Implements ``TrainingStep[TrainingBatch]``: the total is ``sum(weight * loss)`` over
    ``losses`` in order, each loss reading one output of the model (``logits``, ``features`` or
    ``embeddings``, as ReidNet returns them in train mode) against the batch labels; the report
    holds each loss by name and the ``total``. The batch's domain ids route its samples through
    their domain's BN in a DSBN model. ``model`` stays the unwrapped module, the one checkpoints
    save; ``runtime.replicas`` keeps it in step with its copies on the other ranks."""

    stream = "supervised-step"
    state_keys = ("model", "optimizer")

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        losses: Sequence[WeightedLoss],
        *,
        scheduler: EpochSchedule | None = None,
        runtime: StepRuntime | None = None,
    ) -> None:
        losses = tuple(losses)
        if not losses:
            raise ValueError("SupervisedStep needs at least one loss")
        for loss in losses:
            if not isinstance(loss, WeightedLoss):
                raise TypeError(f"SupervisedStep losses must be WeightedLoss values, got {type(loss).__name__}")
        names = [loss.name for loss in losses]
        if len(set(names)) != len(names):
            raise ValueError(f"SupervisedStep losses need distinct names, got {names}")
        super().__init__(optimizer, scheduler=scheduler, runtime=runtime)
        # Module.to() swaps parameter data in place, so an optimizer built on them stays valid.
        self.model = model.to(self.device)
        self.losses = losses

    @property
    def forward(self) -> nn.Module:
        """The model as the forward pass calls it, wrapped afresh each epoch (heads resize)."""
        return self._wrapped_forward()

    def step_modules(self) -> Sequence[nn.Module]:
        return (self.model,)

    def _wrap(self) -> nn.Module:
        return self.replicas.wrap(self.model)

    def run(self, batch: TrainingBatch) -> StepReport:
        batch = batch.to(self.device)
        self._begin_step()
        with domains(self.model, batch.domains), self.precision.autocast():
            output = self.forward(batch.images)
        losses = self._losses(output, batch)
        applied = self._optimize(losses["total"])
        return self._report(losses, len(batch), applied=applied)

    def _losses(self, output: Any, batch: TrainingBatch) -> dict[str, torch.Tensor]:
        losses: dict[str, torch.Tensor] = {}
        total = torch.zeros((), device=self.device)
        for weighted in self.losses:
            inputs = getattr(output, weighted.reads)
            if inputs is None and weighted.reads == "logits":
                raise ValueError(
                    f"loss {weighted.name!r} reads the logits but the model has no classifier (0 classes)"
                )
            losses[weighted.name] = weighted.loss(inputs, getattr(batch, weighted.targets))
            total = total + weighted.weight * losses[weighted.name]
        losses["total"] = total
        return losses

    def _own_state(self) -> dict[str, Any]:
        return {"model": self.model.state_dict()}

    def _load_own_state(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])

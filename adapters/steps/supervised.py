"""SupervisedStep: one optimisation step of ID (cross-entropy) + batch-hard triplet training."""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import nn

from reidkit.adapters.models.dsbn import domains
from reidkit.adapters.runtime.replication import LocalReplica, Replicas
from reidkit.adapters.runtime.seeding import derive_seed
from reidkit.adapters.steps.precision import Precision, load_step_state, step_state
from reidkit.domain.types import StepReport


# Which output the triplet loss sees: the pooled features before the BNNeck (BoT, the strong
# baseline) or the post-neck embeddings (OpenUnReID's UDA_TP trains its triplet on those).
TRIPLET_INPUTS = ("features", "embeddings")


class EpochSchedule(Protocol):
    """A learning-rate schedule that can be put at any epoch (see WarmupSchedule)."""

    def set_epoch(self, epoch: int) -> None: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> Any: ...


class SupervisedStep:
    """Implements ``TrainingStep[dict]`` on batches ``{"image": (N,3,H,W), "label": (N,), ...}``.

    The model must return an object with ``features`` (for the triplet loss; ``triplet_on=
    "embeddings"`` uses that field instead) and ``logits`` (for cross-entropy) in train mode, as
    ReidNet does. ``amp``: see :class:`Precision`. A batch's
    ``domain`` ids route its samples through their domain's BN in a DSBN model. ``replicas``
    keeps the model in step with its copies on the other ranks (DDP under torchrun); ``model``
    stays the unwrapped module, the one checkpoints save.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        scheduler: EpochSchedule | None = None,
        cross_entropy: nn.Module | None = None,
        ce_weight: float = 1.0,
        triplet: nn.Module | None = None,
        triplet_weight: float = 1.0,
        triplet_on: str = "features",
        device: str | torch.device = "cpu",
        amp: bool = False,
        seed: int = 0,
        replicas: Replicas | None = None,
    ) -> None:
        if cross_entropy is None and triplet is None:
            raise ValueError("SupervisedStep needs at least one loss: cross_entropy or triplet")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {seed!r}")
        if triplet_on not in TRIPLET_INPUTS:
            raise ValueError(f"triplet_on must be one of {TRIPLET_INPUTS}, got {triplet_on!r}")
        if ce_weight < 0 or triplet_weight < 0:
            raise ValueError(f"loss weights must be >= 0, got ce {ce_weight} and triplet {triplet_weight}")
        self.device = torch.device(device)
        # Module.to() swaps parameter data in place, so an optimizer built on them stays valid.
        self.model = model.to(self.device)
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.cross_entropy, self.ce_weight = cross_entropy, float(ce_weight)
        self.triplet, self.triplet_weight = triplet, float(triplet_weight)
        self.triplet_on = triplet_on
        self.precision = Precision(self.device, amp)
        self.seed = seed
        self.replicas = replicas if replicas is not None else LocalReplica()
        self._forward: nn.Module | None = None

    @property
    def amp(self) -> bool:
        return self.precision.amp

    @property
    def scaler(self) -> torch.amp.GradScaler | None:
        return self.precision.scaler

    @property
    def forward(self) -> nn.Module:
        """The model as the forward pass calls it, wrapped afresh each epoch (heads resize)."""
        if self._forward is None:
            self._forward = self.replicas.wrap(self.model)
        return self._forward

    def begin_epoch(self, epoch: int) -> None:
        self._forward = None
        self.model.train()
        if self.scheduler is not None:
            self.scheduler.set_epoch(epoch)
        # Dropout and any other random op of this epoch then depend on (seed, epoch) only, so a run
        # resumed at this epoch draws exactly what an uninterrupted one would have.
        torch.manual_seed(derive_seed(self.seed, "supervised-step", epoch))

    def run(self, batch: dict) -> StepReport:
        images = batch["image"].to(self.device, non_blocking=True)
        labels = batch["label"].to(self.device, non_blocking=True)
        with domains(self.model, batch.get("domain")), self.precision.autocast():
            output = self.forward(images)
        losses = self._losses(output, labels)
        self.precision.backward_and_step(losses["total"], self.optimizer)
        self.replicas.sync_buffers([self.model])
        return StepReport(
            losses={name: value.detach() for name, value in losses.items()},
            batch_size=int(labels.shape[0]),
            lr=float(self.optimizer.param_groups[0]["lr"]),
        )

    def _losses(self, output: Any, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        losses: dict[str, torch.Tensor] = {}
        total = torch.zeros((), device=self.device)
        if self.cross_entropy is not None:
            if output.logits is None:
                raise ValueError("cross-entropy is enabled but the model has no classifier (0 classes)")
            losses["ce"] = self.cross_entropy(output.logits, labels)
            total = total + self.ce_weight * losses["ce"]
        if self.triplet is not None:
            losses["triplet"] = self.triplet(getattr(output, self.triplet_on), labels)
            total = total + self.triplet_weight * losses["triplet"]
        losses["total"] = total
        return losses

    def state_dict(self) -> dict:
        return step_state(self.model, self.optimizer, self.scheduler, self.precision)

    def load_state_dict(self, state: dict) -> None:
        load_step_state("SupervisedStep", state, self.model, self.optimizer, self.scheduler, self.precision)

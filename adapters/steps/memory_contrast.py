"""MemoryContrastStep: one step of SpCL or Cluster Contrast training against a feature memory.

    f      <- L2-normalise(model(images).embeddings)      (post-BNNeck, as both papers)
    rows   <- memory.targets(batch)                       (cluster ids, or memory row indexes)
    loss   <- memory.loss(f, rows); backward; optimiser step
    memory.update(f.detach(), rows)                       (momentum update, explicit)

Upstream updates the memory inside the autograd backward pass, with the same forward features;
doing it explicitly after the step gives the same numbers and makes the update visible.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from reidkit.adapters.models.dsbn import domains
from reidkit.adapters.runtime.replication import LocalReplica, Replicas
from reidkit.adapters.runtime.seeding import derive_seed
from reidkit.adapters.steps.precision import Precision, load_step_state, step_state
from reidkit.adapters.steps.supervised import EpochSchedule
from reidkit.domain.types import StepReport


class ContrastMemory(Protocol):
    """What the step needs of ClusterMemory / HybridMemory."""

    def targets(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor: ...

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor: ...

    def update(self, inputs: torch.Tensor, targets: torch.Tensor) -> None: ...


class Embeddings(nn.Module):
    """The model's post-BNNeck embeddings alone: what DDP sees as the forward's output, so a
    classifier the memory loss never uses counts as unused rather than as a missing gradient."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images).embeddings


class MemoryContrastStep:
    """Implements ``TrainingStep[dict]``. The memory is a separate checkpoint component (its
    size follows the labels); this step saves the model, optimiser, schedule and grad scaler.
    ``replicas`` as in SupervisedStep; a memory's own trainable parameters (a learnt
    temperature) have their gradients averaged over the ranks as well."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        memory: ContrastMemory,
        *,
        scheduler: EpochSchedule | None = None,
        device: str | torch.device = "cpu",
        amp: bool = False,
        seed: int = 0,
        replicas: Replicas | None = None,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {seed!r}")
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.memory = memory.to(self.device) if callable(getattr(memory, "to", None)) else memory
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.precision = Precision(self.device, amp)
        self.seed = seed
        self.replicas = replicas if replicas is not None else LocalReplica()
        self.replicas.average_gradients(self.memory)
        self._forward: nn.Module | None = None

    @property
    def forward(self) -> nn.Module:
        """Images -> embeddings, wrapped afresh each epoch (a method may resize the model's head)."""
        if self._forward is None:
            self._forward = self.replicas.wrap(Embeddings(self.model), find_unused_parameters=True)
        return self._forward

    def begin_epoch(self, epoch: int) -> None:
        self._forward = None
        self.model.train()
        if self.scheduler is not None:
            self.scheduler.set_epoch(epoch)
        torch.manual_seed(derive_seed(self.seed, "memory-contrast-step", epoch))

    def run(self, batch: dict) -> StepReport:
        images = batch["image"].to(self.device, non_blocking=True)
        on_device = {k: v.to(self.device, non_blocking=True) for k, v in batch.items() if k != "image"}
        with domains(self.model, on_device.get("domain")), self.precision.autocast():
            embeddings = self.forward(images)
        features = F.normalize(embeddings.float(), dim=1)
        targets = self.memory.targets(on_device)
        loss = self.memory.loss(features, targets)
        self.precision.backward_and_step(loss, self.optimizer)
        self.replicas.sync_buffers([self.model])
        self.memory.update(features.detach(), targets)
        return StepReport(
            losses={"contrast": loss.detach(), "total": loss.detach()},
            batch_size=int(images.shape[0]),
            lr=float(self.optimizer.param_groups[0]["lr"]),
        )

    def state_dict(self) -> dict:
        return step_state(self.model, self.optimizer, self.scheduler, self.precision)

    def load_state_dict(self, state: dict) -> None:
        load_step_state("MemoryContrastStep", state, self.model, self.optimizer, self.scheduler, self.precision)

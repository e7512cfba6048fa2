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
from reidkit.adapters.runtime.seeding import derive_seed
from reidkit.adapters.steps.precision import Precision, load_step_state, step_state
from reidkit.adapters.steps.supervised import EpochSchedule
from reidkit.domain.types import StepReport


class ContrastMemory(Protocol):
    """What the step needs of ClusterMemory / HybridMemory."""

    def targets(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor: ...

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor: ...

    def update(self, inputs: torch.Tensor, targets: torch.Tensor) -> None: ...


class MemoryContrastStep:
    """Implements ``TrainingStep[dict]``. The memory is a separate checkpoint component (its
    size follows the labels); this step saves the model, optimiser, schedule and grad scaler."""

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
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {seed!r}")
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.memory = memory.to(self.device) if isinstance(memory, nn.Module) else memory
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.precision = Precision(self.device, amp)
        self.seed = seed

    def begin_epoch(self, epoch: int) -> None:
        self.model.train()
        if self.scheduler is not None:
            self.scheduler.set_epoch(epoch)
        torch.manual_seed(derive_seed(self.seed, "memory-contrast-step", epoch))

    def run(self, batch: dict) -> StepReport:
        images = batch["image"].to(self.device, non_blocking=True)
        on_device = {k: v.to(self.device, non_blocking=True) for k, v in batch.items() if k != "image"}
        with domains(self.model, on_device.get("domain")), self.precision.autocast():
            output = self.model(images)
        features = F.normalize(output.embeddings.float(), dim=1)
        targets = self.memory.targets(on_device)
        loss = self.memory.loss(features, targets)
        self.precision.backward_and_step(loss, self.optimizer)
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

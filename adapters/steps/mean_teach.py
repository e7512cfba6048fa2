"""MeanTeachStep: one step of Mutual Mean-Teaching (MMT, Ge et al., ICLR'20).

    views 1, 2  <- two independent augmentations of the batch
    student i   <- CE(hard) + softmax-triplet(hard) on its view          weights 1 - w_ce, 1 - w_tri
                 + soft CE / soft softmax-triplet against teacher j (j != i) on view j   w_ce, w_tri
    optimiser step on both students; each teacher <- EMA of its student
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

from reidkit.adapters.data.batch import TrainingBatch
from reidkit.adapters.losses.cross_entropy import CrossEntropyLoss
from reidkit.adapters.losses.mutual import soft_cross_entropy, soft_softmax_triplet
from reidkit.adapters.losses.triplet import batch_hard_triplet
from reidkit.adapters.models.dsbn import domains
from reidkit.adapters.models.mean_teacher import ramped_momentum, update_momentum
from reidkit.adapters.steps.base import TRIPLET_INPUTS, EpochSchedule, OptimizingStep, StepRuntime
from reidkit.domain.types import StepReport


class MeanTeachStep(OptimizingStep):
    """Implements ``TrainingStep[TrainingBatch]``: ``batch.images`` is (B, 2, C, H, W), one view
    per student (see ``TwoViews``). Checkpoints both students, both teachers, the optimiser, the
    schedule and the step count (the EMA ramp depends on it). ``triplet_on`` picks the side of the
    BNNeck both triplets see (MMT's code: the pooled ``features``). ``runtime.replicas`` wraps each
    student (DDP under torchrun); the teachers, never trained, get rank 0's BN statistics after
    each step like the students, so every rank extracts features with the same teachers."""

    stream = "mean-teach-step"
    state_keys = ("students", "teachers", "optimizer", "global_step")

    def __init__(
        self,
        students: Sequence[nn.Module],
        teachers: Sequence[nn.Module],
        optimizer: torch.optim.Optimizer,
        *,
        scheduler: EpochSchedule | None = None,
        runtime: StepRuntime | None = None,
        label_smoothing: float = 0.1,
        soft_ce_weight: float = 0.5,
        soft_triplet_weight: float = 0.8,
        teacher_momentum: float = 0.999,
        triplet_on: str = "features",
    ) -> None:
        if len(students) != 2 or len(teachers) != 2:
            raise ValueError(f"MMT needs 2 students and 2 teachers, got {len(students)} and {len(teachers)}")
        for name, weight in (("soft_ce_weight", soft_ce_weight), ("soft_triplet_weight", soft_triplet_weight)):
            if not 0.0 <= weight <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {weight}")
        if not 0.0 <= teacher_momentum < 1.0:
            raise ValueError(f"teacher_momentum must be in [0, 1), got {teacher_momentum}")
        if triplet_on not in TRIPLET_INPUTS:
            raise ValueError(f"triplet_on must be one of {TRIPLET_INPUTS}, got {triplet_on!r}")
        super().__init__(optimizer, scheduler=scheduler, runtime=runtime)
        self.students = [s.to(self.device) for s in students]
        self.teachers = [t.to(self.device) for t in teachers]
        self.cross_entropy = CrossEntropyLoss(epsilon=label_smoothing)
        self.soft_ce_weight = float(soft_ce_weight)
        self.soft_triplet_weight = float(soft_triplet_weight)
        self.teacher_momentum = float(teacher_momentum)
        self.triplet_on = triplet_on
        self.global_step = 0

    @property
    def forwards(self) -> list[nn.Module]:
        """The students as the forward pass calls them, wrapped afresh each epoch (heads resize)."""
        return self._wrapped_forward()

    def step_modules(self) -> Sequence[nn.Module]:
        # teachers too: their BN statistics follow their own forward passes (MMT), and every rank
        # takes rank 0's after each step
        return (*self.students, *self.teachers)

    def _wrap(self) -> list[nn.Module]:
        return [self.replicas.wrap(student) for student in self.students]

    def run(self, batch: TrainingBatch) -> StepReport:
        batch = batch.to(self.device)
        self._begin_step()
        images, labels = batch.images, batch.labels
        views = (images[:, 0], images[:, 1]) if images.ndim == 5 else (images, images)
        with ExitStack() as stack:
            for model in (*self.students, *self.teachers):  # each DSBN model has its own router
                stack.enter_context(domains(model, batch.domains))
            stack.enter_context(self.precision.autocast())
            students = [student(view) for student, view in zip(self.forwards, views)]
            with torch.no_grad():
                teachers = [teacher(view) for teacher, view in zip(self.teachers, views)]
        losses = self.losses(students, teachers, labels)
        applied = self._optimize(losses["total"])
        return self._report(losses, len(batch), applied=applied)

    def _after_optimizer_step(self) -> None:
        momentum = ramped_momentum(self.teacher_momentum, self.global_step)
        for student, teacher in zip(self.students, self.teachers):
            update_momentum(student, teacher, momentum)
        self.global_step += 1

    def losses(self, students: Sequence, teachers: Sequence, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Student i's soft targets come from teacher j, j != i: the peer, never its own."""
        w_ce, w_tri = self.soft_ce_weight, self.soft_triplet_weight
        peers = (teachers[1], teachers[0])
        ce = sum(self.cross_entropy(s.logits.float(), labels) for s in students)
        side = self.triplet_on
        triplet = sum(batch_hard_triplet(getattr(s, side), labels, margin=None).loss for s in students)
        soft_ce = sum(soft_cross_entropy(s.logits, t.logits) for s, t in zip(students, peers))
        soft_triplet = sum(
            soft_softmax_triplet(getattr(s, side), getattr(t, side), labels) for s, t in zip(students, peers)
        )
        total = (1 - w_ce) * ce + (1 - w_tri) * triplet + w_ce * soft_ce + w_tri * soft_triplet
        return {"ce": ce, "triplet": triplet, "soft_ce": soft_ce, "soft_triplet": soft_triplet, "total": total}

    def _own_state(self) -> dict[str, Any]:
        return {
            "students": [s.state_dict() for s in self.students],
            "teachers": [t.state_dict() for t in self.teachers],
            "global_step": self.global_step,
        }

    def _load_own_state(self, state: Mapping[str, Any]) -> None:
        for model, saved in zip((*self.students, *self.teachers), (*state["students"], *state["teachers"])):
            model.load_state_dict(saved)
        self.global_step = int(state["global_step"])

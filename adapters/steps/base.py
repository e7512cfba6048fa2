"""What every training step shares: where and how it runs (``StepRuntime``) and the optimisation
around its method-specific forward pass and losses (``OptimizingStep``).

A step subclass says which modules it trains, how its forward pass is wrapped for the replicas,
and what it checkpoints besides the optimiser; the base class owns the device, mixed precision,
the per-epoch seed and schedule, backward + optimiser step + buffer sync, the report, and the
optimiser / schedule / grad-scaler part of the checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol

import torch
from attrs import field, frozen
from torch import nn

# Defined beside the losses (the losses package must not import the steps); exported here, with
# the rest of what the steps share.
from reidkit.adapters.losses.weighted import TRIPLET_INPUTS
from reidkit.adapters.runtime.replication import LocalReplica, Replicas
from reidkit.adapters.runtime.seeding import derive_seed
from reidkit.adapters.steps.precision import Precision
from reidkit.domain.types import StepReport

__all__ = ["TRIPLET_INPUTS", "EpochSchedule", "OptimizingStep", "StepRuntime"]


class EpochSchedule(Protocol):
    """A learning-rate schedule that can be put at any epoch (see WarmupSchedule)."""

    def set_epoch(self, epoch: int) -> None: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> Any: ...


def _check_seed(_instance: object, _attribute: object, seed: object) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")


def _check_amp(_instance: object, _attribute: object, amp: object) -> None:
    # Which values a device accepts is Precision's to say (it knows the device); here only the type.
    if not isinstance(amp, bool | str):
        raise ValueError(f"amp must be a bool or a dtype name, got {amp!r}")


@frozen
class StepRuntime:
    """Where and how a training step runs: its device, mixed precision (see :class:`Precision`:
    False, True or a dtype name), the run seed its per-epoch random streams derive from, and the
    replicas that keep its models in step with the other ranks (DDP under torchrun).
    ``skips_bad_steps``: a run may go on after a step with a non-finite loss (``train.max_bad_steps``
    > 0), so each step first copies its modules' buffers, and a skipped step puts them back (its
    forward pass would otherwise leave non-finite BatchNorm statistics behind)."""

    device: torch.device = field(default=torch.device("cpu"), converter=torch.device)
    amp: bool | str = field(default=False, validator=_check_amp)
    seed: int = field(default=0, validator=_check_seed)
    replicas: Replicas = field(factory=LocalReplica)
    skips_bad_steps: bool = False


class OptimizingStep:
    """Base of the training steps (``TrainingStep[TrainingBatch]``).

    A subclass sets ``stream`` (the name its per-epoch seed derives from: changing it changes
    every number of a run) and ``state_keys`` (its checkpoint's keys, ``"optimizer"`` among them,
    in order; ``"scheduler"`` and the grad scaler's state follow), and implements ``step_modules``,
    ``_wrap``, ``_own_state`` and ``_load_own_state``; its ``run`` calls ``_begin_step`` before the
    forward pass and ``_optimize`` with the total loss. Its modules must already be on
    ``self.device`` before the optimiser was built on their parameters, or be moved with
    ``Module.to``, which keeps the parameter objects.
    """

    stream: ClassVar[str]
    state_keys: ClassVar[tuple[str, ...]]

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        scheduler: EpochSchedule | None = None,
        runtime: StepRuntime | None = None,
    ) -> None:
        runtime = runtime if runtime is not None else StepRuntime()
        if not isinstance(runtime, StepRuntime):
            raise TypeError(f"runtime must be a StepRuntime, got {type(runtime).__name__}")
        self.runtime = runtime
        self.device = runtime.device
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.precision = Precision(self.device, runtime.amp)
        self.seed = runtime.seed
        self.replicas = runtime.replicas
        self._wrapped: Any = None
        self._buffers: list[tuple[torch.Tensor, torch.Tensor]] = []

    # -- what a subclass says ----------------------------------------------------------------------

    def step_modules(self) -> Sequence[nn.Module]:
        """Every module the step runs: put in train mode each epoch, buffers synced after each step."""
        raise NotImplementedError

    def _wrap(self) -> Any:
        """The forward pass as the replicas run it (``self.replicas.wrap(...)``)."""
        raise NotImplementedError

    def _own_state(self) -> dict[str, Any]:
        """The checkpoint entries of ``state_keys`` other than ``"optimizer"``."""
        raise NotImplementedError

    def _load_own_state(self, state: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def _after_optimizer_step(self) -> None:
        """Runs between the optimiser step and the buffer sync (MMT's teacher update)."""

    # -- what the base does --------------------------------------------------------------------------

    @property
    def amp(self) -> bool:
        return self.precision.amp

    @property
    def scaler(self) -> torch.amp.GradScaler | None:
        return self.precision.scaler

    def _wrapped_forward(self) -> Any:
        """Wrapped afresh each epoch: a method may resize a head between epochs, and DDP lays out
        its gradient buckets once, for the parameter sizes it was built with."""
        if self._wrapped is None:
            self._wrapped = self._wrap()
        return self._wrapped

    def begin_epoch(self, epoch: int) -> None:
        self._wrapped = None
        for module in self.step_modules():
            module.train()
        if self.scheduler is not None:
            self.scheduler.set_epoch(epoch)
        # Dropout and any other random op of this epoch then depend on (seed, epoch) only, so a run
        # resumed at this epoch draws exactly what an uninterrupted one would have.
        torch.manual_seed(derive_seed(self.seed, self.stream, epoch))

    def _begin_step(self) -> None:
        """Before the forward pass: copies the buffers a skipped step must restore (only when the
        runtime lets a run go on past a non-finite loss)."""
        if self.runtime.skips_bad_steps:
            with torch.no_grad():
                self._buffers = [(b, b.clone()) for m in self.step_modules() for b in m.buffers()]

    def _optimize(self, total: torch.Tensor) -> bool:
        """Backward, optimiser step (through the grad scaler, if any), then every rank takes rank
        0's buffers. Returns whether the update was applied: not when ``total`` is non-finite on
        any rank (one device sync per step), when the optimiser step and what follows it (a
        mean teacher's update; the caller's memory update) are skipped on every rank alike."""
        applied = self.replicas.all_finite(total)
        self.precision.backward_and_step(total, self.optimizer, apply=applied)
        if applied:
            self._after_optimizer_step()
        else:
            with torch.no_grad():
                for buffer, saved in self._buffers:
                    buffer.copy_(saved)
        self._buffers = []
        self.replicas.sync_buffers(self.step_modules())
        return applied

    def _report(self, losses: Mapping[str, torch.Tensor], batch_size: int, *, applied: bool = True) -> StepReport:
        """The step's report; ``applied`` is what ``_optimize`` returned (False: the loss was not
        finite and the step changed nothing)."""
        return StepReport(
            losses={name: value.detach() for name, value in losses.items()},
            batch_size=int(batch_size),
            lr=float(self.optimizer.param_groups[0]["lr"]),
            finite=applied,
        )

    def state_dict(self) -> dict:
        own = self._own_state()
        state = {key: self.optimizer.state_dict() if key == "optimizer" else own[key] for key in self.state_keys}
        if self.scheduler is not None:
            state["scheduler"] = self.scheduler.state_dict()
        state.update(self.precision.state_dict())
        return state

    def load_state_dict(self, state: dict) -> None:
        missing = [key for key in self.state_keys if key not in state]
        if self.scheduler is not None and "scheduler" not in state:
            missing.append("scheduler")
        if missing:
            raise KeyError(f"{type(self).__name__} state lacks {', '.join(missing)}")
        self._load_own_state(state)
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.precision.load_state_dict(state)

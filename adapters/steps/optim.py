"""Optimisers with per-group bias settings, and the warm-up learning-rate schedule."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("step", "cosine")


def build_optimizer(
    kind: str,
    params: nn.Module | Iterable[torch.nn.Parameter],
    *,
    lr: float,
    weight_decay: float,
    momentum: float = 0.9,
    bias_lr_factor: float = 1.0,
    weight_decay_bias: float | None = None,
) -> torch.optim.Optimizer:
    """Adam or SGD over the trainable parameters.

    Given a module, biases form their own group with ``lr * bias_lr_factor`` and
    ``weight_decay_bias`` (default: ``weight_decay``), as BoT does; plain parameter lists cannot be
    told apart, so they only take the defaults. Frozen parameters (like BNNeck's bias) are left out.
    """
    if kind not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {kind!r}")
    if lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    if bias_lr_factor <= 0:
        raise ValueError(f"bias_lr_factor must be > 0, got {bias_lr_factor}")
    bias_decay = weight_decay if weight_decay_bias is None else weight_decay_bias
    if bias_decay < 0:
        raise ValueError(f"weight_decay_bias must be >= 0, got {bias_decay}")
    groups = _param_groups(params, lr, weight_decay, lr * bias_lr_factor, bias_decay)
    if not groups:
        raise ValueError("build_optimizer got no trainable parameters")
    if kind == "adam":
        return torch.optim.Adam(groups, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(groups, lr=lr, weight_decay=weight_decay, momentum=momentum)


def _param_groups(
    params: nn.Module | Iterable[torch.nn.Parameter], lr: float, decay: float, bias_lr: float, bias_decay: float
) -> list[dict]:
    if not isinstance(params, nn.Module):
        plain = [p for p in params if p.requires_grad]
        if (bias_lr, bias_decay) != (lr, decay):
            raise ValueError("bias_lr_factor / weight_decay_bias need a module (a parameter list has no names)")
        return [{"params": plain, "lr": lr, "weight_decay": decay}] if plain else []
    weights, biases = [], []
    for name, param in params.named_parameters():
        if param.requires_grad:
            (biases if name.endswith("bias") else weights).append(param)
    groups = [{"params": weights, "lr": lr, "weight_decay": decay}]
    groups.append({"params": biases, "lr": bias_lr, "weight_decay": bias_decay})
    return [g for g in groups if g["params"]]


def warmup_factor_at(epoch: int, warmup_epochs: int, warmup_factor: float) -> float:
    """Linear ramp from ``warmup_factor`` at epoch 0 to 1 at ``warmup_epochs``."""
    if epoch >= warmup_epochs:
        return 1.0
    alpha = epoch / warmup_epochs
    return warmup_factor * (1.0 - alpha) + alpha


class WarmupSchedule(LRScheduler):
    """Per-epoch learning rate: linear warm-up, then step decay or cosine annealing.

    * ``"step"``: ``base * warmup(e) * gamma ** (number of milestones <= e)`` (BoT's schedule).
    * ``"cosine"``: ``warmup(e) * base`` during warm-up, then from ``base`` down to ``min_lr`` at
      ``max_epochs`` along a half cosine.

    Every value is a closed form of the epoch, so :meth:`set_epoch` jumps anywhere (a resumed run
    gets the same rates as an uninterrupted one) and :meth:`step` agrees with it.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        kind: str = "step",
        warmup_epochs: int = 10,
        warmup_factor: float = 0.01,
        milestones: Sequence[int] = (40, 70),
        gamma: float = 0.1,
        max_epochs: int | None = None,
        min_lr: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        if kind not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {kind!r}")
        if warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {warmup_epochs}")
        if not 0.0 < warmup_factor <= 1.0:
            raise ValueError(f"warmup_factor must be in (0, 1], got {warmup_factor}")
        if list(milestones) != sorted(milestones):
            raise ValueError(f"milestones must be increasing, got {list(milestones)}")
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {gamma}")
        if kind == "cosine" and (max_epochs is None or max_epochs <= warmup_epochs):
            raise ValueError(f"cosine needs max_epochs > warmup_epochs ({warmup_epochs}), got {max_epochs}")
        if min_lr < 0:
            raise ValueError(f"min_lr must be >= 0, got {min_lr}")
        self.kind = kind
        self.warmup_epochs = int(warmup_epochs)
        self.warmup_factor = float(warmup_factor)
        self.milestones = [int(m) for m in milestones]
        self.gamma = float(gamma)
        self.max_epochs = max_epochs
        self.min_lr = float(min_lr)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """The learning rate of a group whose base rate is ``base_lr``, at ``epoch``."""
        warm = warmup_factor_at(epoch, self.warmup_epochs, self.warmup_factor)
        if self.kind == "step":
            return base_lr * warm * self.gamma ** bisect.bisect_right(self.milestones, epoch)
        if epoch < self.warmup_epochs:
            return base_lr * warm
        assert self.max_epochs is not None  # checked in __init__
        floor = min(self.min_lr, base_lr)
        progress = min(1.0, (epoch - self.warmup_epochs) / (self.max_epochs - self.warmup_epochs))
        return floor + (base_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def get_lr(self) -> list[float]:
        return [self.lr_at(float(base), self.last_epoch) for base in self.base_lrs]

    def set_epoch(self, epoch: int) -> None:
        """Sets every group's rate to its value at ``epoch`` (no deprecated ``step(epoch)``)."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.last_epoch = epoch
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

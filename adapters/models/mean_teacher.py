"""Mean teachers: a temporal average of a student's weights (Tarvainen & Valpola, 2017).

A small function, as lightly's ``update_momentum``: no wrapper class. Only parameters are
averaged; a teacher's BatchNorm statistics come from its own forward passes, as in MMT.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def mean_teacher_of(student: nn.Module) -> nn.Module:
    """A teacher starting as a copy of ``student``, never trained by an optimiser."""
    teacher = copy.deepcopy(student)
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    return teacher


@torch.no_grad()
def update_momentum(student: nn.Module, teacher: nn.Module, momentum: float) -> None:
    """``teacher = momentum * teacher + (1 - momentum) * student``, parameter by parameter."""
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    student_params = dict(student.named_parameters())
    for name, target in teacher.named_parameters():
        source = student_params.get(name)
        if source is None or source.shape != target.shape:
            raise ValueError(f"teacher parameter {name!r} has no student counterpart of the same shape")
        target.mul_(momentum).add_(source.detach(), alpha=1.0 - momentum)


def ramped_momentum(momentum: float, step: int) -> float:
    """MMT's warm-up: ``min(1 - 1/(step + 1), momentum)``, so early teachers follow closely."""
    return min(1.0 - 1.0 / (step + 1), momentum)

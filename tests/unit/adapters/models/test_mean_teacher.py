"""Mean teachers: an EMA of parameters only, a ramped momentum, and no optimiser ever trains them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reidkit.adapters.models.mean_teacher import mean_teacher_of, ramped_momentum, update_momentum


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def test_update_is_the_exponential_moving_average_of_parameters():
    student = net()
    teacher = mean_teacher_of(student)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
    before = [p.clone() for p in teacher.parameters()]
    update_momentum(student, teacher, 0.9)
    for old, new, s in zip(before, teacher.parameters(), student.parameters()):
        torch.testing.assert_close(new, 0.9 * old + 0.1 * s)


def test_buffers_are_not_averaged():
    student = net()
    teacher = mean_teacher_of(student)
    student.train()
    student(torch.randn(8, 3))  # moves the student's running statistics only
    update_momentum(student, teacher, 0.5)
    assert torch.equal(teacher[1].running_mean, torch.zeros(4))


def test_teacher_parameters_take_no_gradient():
    teacher = mean_teacher_of(net())
    assert not any(p.requires_grad for p in teacher.parameters())


def test_momentum_ramps_up_to_its_value():
    assert [ramped_momentum(0.999, s) for s in (0, 1, 3)] == [0.0, 0.5, 0.75]
    assert ramped_momentum(0.999, 10_000) == 0.999


def test_mismatched_models_and_bad_momentum_are_refused():
    with pytest.raises(ValueError, match="no student counterpart"):
        update_momentum(net(), nn.Linear(3, 5), 0.9)
    with pytest.raises(ValueError, match="momentum must be in"):
        update_momentum(net(), net(), 1.5)

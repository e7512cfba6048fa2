"""MMT's soft losses against hand-computed values, and where their gradient must vanish."""

from __future__ import annotations

import math

import pytest
import torch

from reidkit.adapters.losses.mutual import hardest_indices, soft_cross_entropy, soft_softmax_triplet


def test_soft_cross_entropy_by_hand():
    student = torch.tensor([[0.0, math.log(3.0)]])  # softmax = (1/4, 3/4)
    teacher = torch.tensor([[math.log(2.0), 0.0]])  # softmax = (2/3, 1/3)
    expected = -(2 / 3 * math.log(1 / 4) + 1 / 3 * math.log(3 / 4))
    assert soft_cross_entropy(student, teacher).item() == pytest.approx(expected, rel=1e-6)


def test_soft_cross_entropy_gradient_vanishes_when_student_equals_teacher():
    logits = torch.randn(5, 7, requires_grad=True)
    soft_cross_entropy(logits, logits.detach().clone()).backward()
    assert logits.grad.abs().max().item() < 1e-7


def test_soft_cross_entropy_never_trains_the_teacher():
    student, teacher = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4, requires_grad=True)
    soft_cross_entropy(student, teacher).backward()
    assert teacher.grad is None and student.grad is not None


def test_hardest_indices_pick_farthest_positive_and_closest_negative():
    points = torch.tensor([[0.0], [1.0], [3.0], [10.0], [10.5]])
    labels = torch.tensor([0, 0, 0, 1, 1])
    dist = (points - points.t()).abs()
    ap, an, valid = hardest_indices(dist, labels)
    assert ap.tolist()[:3] == [2, 2, 0] and an.tolist() == [3, 3, 3, 2, 2]
    assert valid.all()


def test_soft_softmax_triplet_by_hand():
    # 1-D features, two ids of two samples: anchor 0 has d_ap = 1 (to 1), d_an = 3 (to 2).
    student = torch.tensor([[0.0], [1.0], [3.0], [5.0]])
    teacher = torch.tensor([[0.0], [2.0], [3.0], [6.0]])
    labels = torch.tensor([0, 0, 1, 1])
    per_anchor = []
    for i in range(4):
        same = [j for j in range(4) if labels[j] == labels[i] and j != i]
        other = [j for j in range(4) if labels[j] != labels[i]]
        ds = [abs(student[i] - student[j]).item() for j in range(4)]
        dt = [abs(teacher[i] - teacher[j]).item() for j in range(4)]
        ap = max(same, key=lambda j: ds[j])
        an = min(other, key=lambda j: ds[j])
        target = torch.softmax(torch.tensor([dt[ap], dt[an]]), 0)
        log_p = torch.log_softmax(torch.tensor([ds[ap], ds[an]]), 0)
        per_anchor.append(-(target * log_p).sum().item())
    got = soft_softmax_triplet(student, teacher, labels).item()
    assert got == pytest.approx(sum(per_anchor) / 4, rel=1e-5)


def test_soft_softmax_triplet_gradient_vanishes_when_student_equals_teacher():
    torch.manual_seed(0)
    features = torch.randn(8, 6, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    soft_softmax_triplet(features, features.detach().clone(), labels).backward()
    assert features.grad.abs().max().item() < 1e-6


def test_soft_softmax_triplet_is_zero_without_a_valid_anchor():
    features = torch.randn(3, 4, requires_grad=True)
    loss = soft_softmax_triplet(features, features.detach(), torch.tensor([0, 1, 2]))
    assert loss.item() == 0.0
    loss.backward()

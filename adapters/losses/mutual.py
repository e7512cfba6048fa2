"""Mutual Mean-Teaching losses (Ge et al., ICLR'20): a student learns from its peer's mean teacher.

- ``soft_cross_entropy``: cross-entropy against the teacher's class probabilities.
- ``soft_softmax_triplet``: the softmax triplet of the student's hardest pairs, with the teacher's
  softmax over the *same* pairs as the target.

The teacher side is always detached: it is a target, trained only by the EMA update. With equal
student and teacher inputs both losses have zero gradient (softmax(s) - softmax(t) = 0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from reidkit.adapters.losses.triplet import euclidean_distances


def soft_cross_entropy(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Batch mean of ``-softmax(teacher) · log_softmax(student)``."""
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher logits {tuple(teacher_logits.shape)} differ")
    target = F.softmax(teacher_logits.detach().float(), dim=1)
    return -(target * F.log_softmax(student_logits.float(), dim=1)).sum(dim=1).mean()


def hardest_indices(dist: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per anchor: the index of its farthest positive (not itself), of its closest negative, and
    whether it has both."""
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positive, negative = same & ~eye, ~same
    ap = dist.masked_fill(~positive, float("-inf")).argmax(dim=1)
    an = dist.masked_fill(~negative, float("inf")).argmin(dim=1)
    return ap, an, positive.any(dim=1) & negative.any(dim=1)


def soft_softmax_triplet(
    student_features: torch.Tensor, teacher_features: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """Mean over anchors of ``-softmax(teacher [d_ap, d_an]) · log_softmax(student [d_ap, d_an])``,
    the pairs mined on the student's distances (Euclidean, as MMT)."""
    student = euclidean_distances(student_features.float())
    teacher = euclidean_distances(teacher_features.detach().float())
    ap, an, valid = hardest_indices(student.detach(), labels)
    if not bool(valid.any()):
        return student_features.sum() * 0.0
    rows = torch.arange(len(labels), device=labels.device)
    student_pairs = torch.stack([student[rows, ap], student[rows, an]], dim=1)[valid]
    teacher_pairs = torch.stack([teacher[rows, ap], teacher[rows, an]], dim=1)[valid]
    return -(F.softmax(teacher_pairs, dim=1) * F.log_softmax(student_pairs, dim=1)).sum(dim=1).mean()

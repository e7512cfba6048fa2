"""Batch-hard triplet loss (Hermans, Beyer & Leibe 2017, "In Defense of the Triplet Loss").

For every anchor of a P x K batch: its farthest positive and its closest negative, by Euclidean
distance, all at once from the (N, N) distance matrix.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class TripletOutput(NamedTuple):
    loss: torch.Tensor
    # Fraction of anchors whose hardest negative is already farther than their hardest positive:
    # a cheap training-progress signal for logs (detached).
    precision: torch.Tensor


def euclidean_distances(features: torch.Tensor) -> torch.Tensor:
    """(N, N) Euclidean distances. Squared distances are clamped before the sqrt: rounding can
    make them slightly negative, and sqrt'(0) is infinite."""
    squared = features.pow(2).sum(dim=1, keepdim=True)
    dist2 = squared + squared.t() - 2.0 * features @ features.t()
    return dist2.clamp(min=1e-12).sqrt()


def hardest_pairs(dist: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per anchor: hardest positive distance, hardest negative distance, and whether the anchor
    has both another positive and a negative (anchors lacking either contribute nothing)."""
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positive = same & ~eye
    negative = ~same
    d_ap = dist.masked_fill(~positive, float("-inf")).amax(dim=1)
    d_an = dist.masked_fill(~negative, float("inf")).amin(dim=1)
    valid = positive.any(dim=1) & negative.any(dim=1)
    return d_ap, d_an, valid


def batch_hard_triplet(
    features: torch.Tensor, labels: torch.Tensor, *, margin: float | None = 0.3, normalize: bool = False
) -> TripletOutput:
    """Mean over valid anchors of ``relu(d_ap - d_an + margin)``, or of ``softplus(d_ap - d_an)``
    (the soft margin) when ``margin`` is None. Computed in float32."""
    features = features.float()
    if normalize:
        features = F.normalize(features, dim=1)
    d_ap, d_an, valid = hardest_pairs(euclidean_distances(features), labels)
    if not bool(valid.any()):
        # No anchor has both a positive and a negative: a zero that still belongs to the graph,
        # so backward() works and changes nothing.
        zero = features.sum() * 0.0
        return TripletOutput(zero, zero.detach())
    d_ap, d_an = d_ap[valid], d_an[valid]
    gap = d_ap - d_an
    per_anchor = F.softplus(gap) if margin is None else F.relu(gap + margin)
    precision = (d_an > d_ap).float().mean().detach()
    return TripletOutput(per_anchor.mean(), precision)


class TripletLoss(nn.Module):
    """Batch-hard triplet loss; ``soft_margin=True`` (or ``margin=None``) selects the soft margin,
    ignoring ``margin``. ``normalize`` L2-normalises the features first."""

    def __init__(self, margin: float | None = 0.3, *, soft_margin: bool = False, normalize: bool = False) -> None:
        super().__init__()
        if margin is not None and margin < 0:
            raise ValueError(f"triplet margin must be >= 0 or None (soft margin), got {margin}")
        self.margin = None if soft_margin else margin
        self.normalize = normalize

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.with_precision(features, labels).loss

    def with_precision(self, features: torch.Tensor, labels: torch.Tensor) -> TripletOutput:
        return batch_hard_triplet(features, labels, margin=self.margin, normalize=self.normalize)

    def extra_repr(self) -> str:
        return f"margin={'soft' if self.margin is None else self.margin}, normalize={self.normalize}"


def softmax_triplet(features: torch.Tensor, labels: torch.Tensor, *, weight: float = 0.0) -> TripletOutput:
    """OpenUnReID's softmax triplet (MMT's, and the MVB fork's baseline loss): the log-softmax of
    each valid anchor's hardest pair (d_ap, d_an), Euclidean, pushed towards the soft target
    (``weight``, 1 - ``weight``): ``-weight * log p_ap - (1 - weight) * log p_an``. OpenUnReID calls
    ``weight`` the margin, but it is no distance margin: at 0 the loss is softplus(d_ap - d_an), and
    at 0.3 it is smallest where d_an - d_ap = ln(7/3), so a larger "margin" pushes less."""
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"softmax triplet weight must be in [0, 1), got {weight}")
    features = features.float()
    d_ap, d_an, valid = hardest_pairs(euclidean_distances(features), labels)
    if not bool(valid.any()):
        zero = features.sum() * 0.0
        return TripletOutput(zero, zero.detach())
    log_p = F.log_softmax(torch.stack([d_ap[valid], d_an[valid]], dim=1), dim=1)
    loss = (-weight * log_p[:, 0] - (1.0 - weight) * log_p[:, 1]).mean()
    return TripletOutput(loss, (d_an[valid] > d_ap[valid]).float().mean().detach())


class SoftmaxTripletLoss(nn.Module):
    """``softmax_triplet`` as a module; ``weight`` is OpenUnReID's "margin" (0.3 in its configs)."""

    def __init__(self, weight: float = 0.3) -> None:
        super().__init__()
        if not 0.0 <= weight < 1.0:
            raise ValueError(f"softmax triplet weight must be in [0, 1), got {weight}")
        self.weight = float(weight)

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.with_precision(features, labels).loss

    def with_precision(self, features: torch.Tensor, labels: torch.Tensor) -> TripletOutput:
        return softmax_triplet(features, labels, weight=self.weight)

    def extra_repr(self) -> str:
        return f"weight={self.weight}"

"""Weighted losses of a supervised step: each names the model output it reads and its weight.

A step sums ``weight * loss(output.<reads>, labels)`` in the order given, so the total of ID +
triplet training is computed exactly as ``0 + w_ce * ce + w_tri * triplet``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from attrs import field, frozen

from reidkit.adapters.losses.cross_entropy import CrossEntropyLoss
from reidkit.adapters.losses.triplet import SoftmaxTripletLoss, TripletLoss

# What a model returns in train mode (ReidNet's output): logits of the classifier (None without
# one), the pooled features before the BNNeck, and the post-neck embeddings.
MODEL_OUTPUTS = ("logits", "features", "embeddings")

# Which output a triplet loss sees: the pooled features before the BNNeck (BoT, the strong
# baseline) or the post-neck embeddings (OpenUnReID's UDA_TP trains its triplet on those).
TRIPLET_INPUTS = ("features", "embeddings")

LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _check_name(_instance: object, _attribute: object, name: object) -> None:
    if not isinstance(name, str) or not name or name == "total":
        raise ValueError(f"a loss name must be a non-empty string other than 'total', got {name!r}")


def _check_weight(_instance: object, _attribute: object, weight: float) -> None:
    if not math.isfinite(weight) or weight < 0:
        raise ValueError(f"loss weights must be finite and >= 0, got {weight}")


def _check_reads(_instance: object, _attribute: object, reads: object) -> None:
    if reads not in MODEL_OUTPUTS:
        raise ValueError(f"a loss reads one of {MODEL_OUTPUTS}, got {reads!r}")


@frozen(eq=False)
class WeightedLoss:
    """``weight * loss(getattr(output, reads), labels)``, reported under ``name``."""

    name: str = field(validator=_check_name)
    loss: LossFunction
    weight: float = field(converter=float, validator=_check_weight)
    reads: str = field(validator=_check_reads)


def id_and_triplet_losses(
    *,
    ce_weight: float,
    label_smoothing: float,
    triplet_weight: float,
    triplet_margin: float | None,
    soft_margin: bool,
    triplet_on: str,
    triplet_kind: str = "hard",
) -> tuple[WeightedLoss, ...]:
    """BoT's losses: label-smoothed cross-entropy on the logits (``"ce"``), then the batch-hard
    triplet on ``triplet_on`` (``"triplet"``): ``triplet_kind`` "hard" is the hinge (or soft
    margin) triplet, "softmax" OpenUnReID's softmax triplet with ``triplet_margin`` as its soft
    target weight. A zero-weighted loss is left out, not computed at all: UDA_TP trains with the
    triplet alone and has no classifier."""
    if triplet_on not in TRIPLET_INPUTS:
        raise ValueError(f"triplet_on must be one of {TRIPLET_INPUTS}, got {triplet_on!r}")
    for name, weight in (("ce_weight", ce_weight), ("triplet_weight", triplet_weight)):
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"{name} must be finite and >= 0, got {weight}")
    losses = []
    if ce_weight > 0:
        losses.append(WeightedLoss("ce", CrossEntropyLoss(epsilon=label_smoothing), ce_weight, reads="logits"))
    if triplet_kind not in ("hard", "softmax"):
        raise ValueError(f"triplet_kind must be 'hard' or 'softmax', got {triplet_kind!r}")
    if triplet_weight > 0:
        triplet = (
            SoftmaxTripletLoss(triplet_margin or 0.0)
            if triplet_kind == "softmax"
            else TripletLoss(margin=triplet_margin, soft_margin=soft_margin)
        )
        losses.append(WeightedLoss("triplet", triplet, triplet_weight, reads=triplet_on))
    if not losses:
        raise ValueError("ce_weight and triplet_weight are both 0: a supervised step needs at least one loss")
    return tuple(losses)

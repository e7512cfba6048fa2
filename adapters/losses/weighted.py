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
from reidkit.adapters.losses.mask import MASK_LOSSES, gaussian_targets, mask_loss
from reidkit.adapters.losses.triplet import SoftmaxTripletLoss, TripletLoss

# What a model returns in train mode (ReidNet's output): logits of the classifier (None without
# one), the pooled features before the BNNeck, the post-neck embeddings, and the foreground mask
# (None without a mask head).
MODEL_OUTPUTS = ("logits", "features", "embeddings", "mask")
# What a loss compares them with: the batch's labels, or its images' true boxes (a mask head's).
BATCH_TARGETS = ("labels", "boxes")

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


def _check_targets(_instance: object, _attribute: object, targets: object) -> None:
    if targets not in BATCH_TARGETS:
        raise ValueError(f"a loss compares with one of {BATCH_TARGETS}, got {targets!r}")


@frozen(eq=False)
class WeightedLoss:
    """``weight * loss(getattr(output, reads), getattr(batch, targets))``, reported under ``name``."""

    name: str = field(validator=_check_name)
    loss: LossFunction
    weight: float = field(converter=float, validator=_check_weight)
    reads: str = field(validator=_check_reads)
    targets: str = field(default="labels", validator=_check_targets)


@frozen
class MaskRegression:
    """A mask head's loss: Gaussian targets from the batch's normalised boxes at the predicted
    mask's size (``sigma_ratio`` x the box), scored by ``kind`` (adapters/losses/mask.py)."""

    kind: str = "mse"
    sigma_ratio: float = 0.1
    threshold: float = 0.1
    background_weight: float = 1.0
    gamma: float = 2.0

    def __attrs_post_init__(self) -> None:
        if self.kind not in MASK_LOSSES:
            raise ValueError(f"mask loss must be one of {MASK_LOSSES}, got {self.kind!r}")

    def __call__(self, mask: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        if mask is None:
            raise ValueError("the mask loss reads the model's mask, but the model has no mask head (model.mask_head)")
        if boxes.shape[0] != mask.shape[0]:
            raise ValueError(f"the mask loss needs a box per image: {mask.shape[0]} masks, {boxes.shape[0]} boxes")
        targets = gaussian_targets(boxes, mask.shape[-2], mask.shape[-1], sigma_ratio=self.sigma_ratio)
        options = {"threshold": self.threshold, "background_weight": self.background_weight, "gamma": self.gamma}
        return mask_loss(self.kind, mask, targets, **options)


def id_and_triplet_losses(
    *,
    ce_weight: float,
    label_smoothing: float,
    triplet_weight: float,
    triplet_margin: float | None,
    soft_margin: bool,
    triplet_on: str,
    triplet_kind: str = "hard",
    mask_weight: float = 0.0,
    mask: MaskRegression = MaskRegression(),
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
    if not math.isfinite(mask_weight) or mask_weight < 0:
        raise ValueError(f"mask_weight must be finite and >= 0, got {mask_weight}")
    if mask_weight > 0:
        losses.append(WeightedLoss("mask", mask, mask_weight, reads="mask", targets="boxes"))
    if not losses:
        raise ValueError("ce_weight and triplet_weight are both 0: a supervised step needs at least one loss")
    return tuple(losses)

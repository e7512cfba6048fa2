"""Foreground-mask regression for the baggage mask head (issue 21): Gaussian targets built from
the true boxes, and three losses on a predicted mask in [0, 1].

The MVB fork this follows supervises only the pixels whose target is above a threshold, so a head
that predicts foreground everywhere costs nothing; its focal loss compares soft targets with 1
exactly, which they never are; and it weights the mask loss twice. Here:

- ``gaussian_targets``: one Gaussian per box, centred on the box, sigma = ``sigma_ratio`` x the box's
  width and height, on the pixel-centre grid of the prediction, peak 1 (not normalised: a target
  is a soft mask, not a density).
- ``mask_mse``: the squared error inside the foreground (target >= ``threshold``) plus
  ``background_weight`` x the squared prediction outside it, each a mean over its own pixels and
  per sample, then averaged over the batch, so a large bag does not outweigh a small one and the
  background is supervised.
- ``mask_focal``: the focal loss for soft targets (Li et al.'s quality focal loss, NeurIPS'20):
  ``-|t - p|^gamma * (t log p + (1 - t) log(1 - p))``, which for a hard 0/1 target is the focal
  loss and is well defined in between.
- ``mask_combined``: their sum. The profile weighs the result once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MASK_LOSSES = ("mse", "focal", "combined")


def gaussian_targets(boxes: torch.Tensor, height: int, width: int, *, sigma_ratio: float = 0.1) -> torch.Tensor:
    """(N, 1, height, width) targets for ``boxes`` (N, 4) in normalised [x1, y1, x2, y2]
    coordinates of the (transformed) image; an all-zero row (no box) gives an all-zero target."""
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be (N, 4) [x1, y1, x2, y2], got {tuple(boxes.shape)}")
    if sigma_ratio <= 0:
        raise ValueError(f"sigma_ratio must be > 0, got {sigma_ratio}")
    if height < 1 or width < 1:
        raise ValueError(f"target size must be positive, got {height}x{width}")
    boxes = boxes.float()
    x1, y1, x2, y2 = boxes.unbind(dim=1)
    present = (x2 > x1) & (y2 > y1)
    centre_x, centre_y = (x1 + x2) / 2, (y1 + y2) / 2
    sigma_x = (sigma_ratio * (x2 - x1)).clamp(min=1e-6)
    sigma_y = (sigma_ratio * (y2 - y1)).clamp(min=1e-6)
    xs = (torch.arange(width, device=boxes.device, dtype=torch.float32) + 0.5) / width
    ys = (torch.arange(height, device=boxes.device, dtype=torch.float32) + 0.5) / height
    gx = ((xs[None, :] - centre_x[:, None]) / sigma_x[:, None]).pow(2)  # (N, W)
    gy = ((ys[None, :] - centre_y[:, None]) / sigma_y[:, None]).pow(2)  # (N, H)
    targets = torch.exp(-0.5 * (gy[:, :, None] + gx[:, None, :]))
    return (targets * present[:, None, None].float()).unsqueeze(1)


def mask_mse(prediction: torch.Tensor, target: torch.Tensor, *, threshold: float = 0.1, background_weight: float = 1.0) -> torch.Tensor:
    """Mean over samples of [foreground MSE + background_weight x background mean of p^2]; a
    sample without foreground (no box) is all background."""
    prediction, target = _checked(prediction, target)
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    if background_weight < 0:
        raise ValueError(f"background_weight must be >= 0, got {background_weight}")
    foreground = (target >= threshold).float()
    background = 1.0 - foreground
    error = (prediction - target).pow(2)
    fg = (error * foreground).flatten(1).sum(1) / foreground.flatten(1).sum(1).clamp(min=1.0)
    bg = (prediction.pow(2) * background).flatten(1).sum(1) / background.flatten(1).sum(1).clamp(min=1.0)
    return (fg + background_weight * bg).mean()


def mask_focal(prediction: torch.Tensor, target: torch.Tensor, *, gamma: float = 2.0) -> torch.Tensor:
    """Quality focal loss, mean over pixels: ``|t - p|^gamma * BCE(p, t)``; computed in float32
    with the prediction clamped away from 0 and 1 (a sigmoid output can round to either)."""
    prediction, target = _checked(prediction, target)
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    p = prediction.clamp(1e-6, 1 - 1e-6)
    bce = -(target * p.log() + (1 - target) * (1 - p).log())
    return ((target - p).abs().pow(gamma) * bce).mean()


def mask_combined(prediction: torch.Tensor, target: torch.Tensor, *, threshold: float = 0.1, background_weight: float = 1.0, gamma: float = 2.0) -> torch.Tensor:
    return mask_mse(prediction, target, threshold=threshold, background_weight=background_weight) + mask_focal(
        prediction, target, gamma=gamma
    )


def mask_loss(kind: str, prediction: torch.Tensor, target: torch.Tensor, **options: float) -> torch.Tensor:
    """One of ``MASK_LOSSES`` by name (what a profile's ``model.mask_loss`` names)."""
    if kind == "mse":
        return mask_mse(prediction, target, **{k: v for k, v in options.items() if k in ("threshold", "background_weight")})
    if kind == "focal":
        return mask_focal(prediction, target, **{k: v for k, v in options.items() if k == "gamma"})
    if kind == "combined":
        return mask_combined(prediction, target, **options)
    raise ValueError(f"mask loss must be one of {MASK_LOSSES}, got {kind!r}")


def _checked(prediction: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if prediction.shape != target.shape:
        raise ValueError(f"predicted mask {tuple(prediction.shape)} and target {tuple(target.shape)} differ in shape")
    if prediction.ndim != 4 or prediction.shape[1] != 1:
        raise ValueError(f"masks must be (N, 1, H, W), got {tuple(prediction.shape)}")
    return prediction.float(), target.float()


def resize_mask(mask: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """A (N, 1, h, w) mask brought to (height, width) bilinearly (pooling weights at the trunk's
    resolution)."""
    return F.interpolate(mask, size=(height, width), mode="bilinear", align_corners=False)

"""Global pooling layers that turn a (N, C, H, W) feature map into (N, C) descriptors."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GeneralizedMeanPooling(nn.Module):
    """GeM pooling: ``mean(x^p)^(1/p)`` with a learnable ``p`` (1 = average, large = max).

    Inputs are clamped to ``eps`` first because a fractional power of zero or of a negative value
    has no usable gradient.
    """

    def __init__(self, p: float = 3.0, eps: float = 1e-6) -> None:
        super().__init__()
        if p <= 0:
            raise ValueError(f"GeM p must be > 0, got {p}")
        if eps <= 0:
            raise ValueError(f"GeM eps must be > 0, got {eps}")
        self.p = nn.Parameter(torch.full((1,), float(p)))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(x.clamp(min=self.eps).pow(self.p), 1)
        return pooled.pow(1.0 / self.p).flatten(1)

    def extra_repr(self) -> str:
        return f"p={float(self.p.detach()[0]):.4f}, eps={self.eps}"


class GlobalAveragePooling(nn.Module):
    """Plain global average pooling, flattened to (N, C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


def build_pooling(kind: str) -> nn.Module:
    """``"avg"`` or ``"gem"`` (GeM starts at p=3, the value the GeM paper found best)."""
    if kind == "avg":
        return GlobalAveragePooling()
    if kind == "gem":
        return GeneralizedMeanPooling()
    raise ValueError(f"pooling must be 'avg' or 'gem', got {kind!r}")

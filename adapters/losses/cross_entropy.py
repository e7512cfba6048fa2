"""Label-smoothing cross-entropy (Szegedy et al. 2016), as BoT uses for the ID loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CrossEntropyLoss(nn.Module):
    """Cross-entropy against ``(1 - epsilon) * one_hot + epsilon / K``.

    That is exactly ``F.cross_entropy(label_smoothing=epsilon)``; the logits are cast to float32
    so the log-softmax is not computed in half precision under autocast.
    """

    def __init__(self, epsilon: float = 0.1) -> None:
        super().__init__()
        if not 0.0 <= epsilon < 1.0:
            raise ValueError(f"label smoothing epsilon must be in [0, 1), got {epsilon}")
        self.epsilon = float(epsilon)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), targets, label_smoothing=self.epsilon)

    def extra_repr(self) -> str:
        return f"epsilon={self.epsilon}"

"""Label-smoothing cross-entropy (Szegedy et al. 2016), as BoT uses for the ID loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


PART_REDUCTIONS = ("mean", "sum")


class CrossEntropyLoss(nn.Module):
    """Cross-entropy against ``(1 - epsilon) * one_hot + epsilon / K``.

    That is exactly ``F.cross_entropy(label_smoothing=epsilon)``; the logits are cast to float32
    so the log-softmax is not computed in half precision under autocast.

    Logits of a part-based head (PCB), stacked as (N, parts, K), give one cross-entropy per part
    against the same labels, reduced over the parts by ``parts``: ``"mean"`` (Torchreid's
    DeepSupervision; the loss stays on the scale of a single head's) or ``"sum"`` (the PCB paper's
    sum of the part losses). (N, K) logits are unaffected by it.
    """

    def __init__(self, epsilon: float = 0.1, *, parts: str = "mean") -> None:
        super().__init__()
        if not 0.0 <= epsilon < 1.0:
            raise ValueError(f"label smoothing epsilon must be in [0, 1), got {epsilon}")
        if parts not in PART_REDUCTIONS:
            raise ValueError(f"parts must be one of {PART_REDUCTIONS}, got {parts!r}")
        self.epsilon = float(epsilon)
        self.parts = parts

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if logits.ndim == 3:
            n, parts, classes = logits.shape
            # Every part has the N samples, so the mean over the N*parts rows is the mean over the
            # parts of each part's mean loss.
            loss = F.cross_entropy(
                logits.float().reshape(n * parts, classes), targets.repeat_interleave(parts), label_smoothing=self.epsilon
            )
            return loss * parts if self.parts == "sum" else loss
        return F.cross_entropy(logits.float(), targets, label_smoothing=self.epsilon)

    def extra_repr(self) -> str:
        return f"epsilon={self.epsilon}" + (f", parts={self.parts!r}" if self.parts != "mean" else "")

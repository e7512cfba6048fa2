"""A recording fake of the PseudoLabeler port, for tests of whatever consumes pseudo-labels.

It is a real (if naive) labeler, so that it can pass the same contract suite as the production
strategies: connected components of the pairs closer than ``radius`` (dense pairwise distances:
tiny inputs only), components smaller than ``min_size`` marked -1. It remembers the features of
every call and warns on a degenerate result like the real ones do.
"""

from __future__ import annotations

import numpy as np
import structlog

from reidkit.domain.types import FeatureMatrix, PseudoLabels

_log = structlog.get_logger(__name__)


class RecordingLabeler:
    def __init__(self, radius: float = 0.5, min_size: int = 2) -> None:
        self.radius, self.min_size = radius, min_size
        self.calls: list[np.ndarray] = []

    def assign(self, features: FeatureMatrix) -> PseudoLabels:
        x = np.asarray(features.values, dtype=np.float64)
        self.calls.append(x.copy())
        n = len(x)
        labels = np.arange(n)
        if n:
            close = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=-1) < self.radius
            # Label propagation to a fixed point: each point takes the smallest label it touches.
            while True:
                spread = np.where(close, labels[None, :], n).min(axis=1)
                if np.array_equal(spread, labels):
                    break
                labels = spread
        sizes = np.bincount(labels, minlength=n)
        labels = np.where(sizes[labels] >= self.min_size, labels, -1)
        kept = np.unique(labels[labels >= 0])
        labels = np.where(labels >= 0, np.searchsorted(kept, labels), -1)
        if int((np.bincount(labels[labels >= 0], minlength=1) >= 2).sum()) < 2:
            _log.warning("degenerate pseudo-labels", labeler="recording_fake", samples=n)
        return PseudoLabels(labels)

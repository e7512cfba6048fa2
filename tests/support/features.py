"""Synthetic feature matrices for clustering tests."""

from __future__ import annotations

import numpy as np

from reidkit.domain.types import FeatureMatrix


def noisy_blobs(n: int = 300, dim: int = 32, centres: int = 15, noise: float = 1.6, seed: int = 0) -> FeatureMatrix:
    """``n`` L2-normalised points around ``centres`` random unit centres, Gaussian noise of total
    norm about ``noise``."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, dim))
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    x = c[rng.integers(0, centres, n)] + rng.standard_normal((n, dim)) * noise / np.sqrt(dim)
    return FeatureMatrix(x / np.linalg.norm(x, axis=1, keepdims=True))

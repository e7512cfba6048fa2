"""Class centroids: the L2-normalised mean feature of each label, shared by every consumer of
pseudo labels (cluster memories, classifier heads) and by SpCL's source class rows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reidkit.domain.types import FeatureMatrix


def class_centroids(features: FeatureMatrix, labels: Sequence[int] | np.ndarray) -> FeatureMatrix:
    """Row c = normalised mean of the features labelled c, for c = 0..C-1, summed in float64.
    Labels -1 (outliers) are skipped; every id up to the largest must have a sample."""
    ids = np.asarray(labels, dtype=np.int64)
    if ids.shape != (len(features),):
        raise ValueError(f"labels {ids.shape} must be ({len(features)},) to match the features")
    kept = ids >= 0
    if not kept.any():
        raise ValueError("class centroids need at least one labelled sample (all labels are -1)")
    counts = np.bincount(ids[kept])
    if (counts == 0).any():
        raise ValueError(f"class ids must be contiguous from 0; {int(np.flatnonzero(counts == 0)[0])} has no sample")
    sums = np.zeros((counts.size, features.dim), dtype=np.float64)
    np.add.at(sums, ids[kept], features.values[kept])
    return FeatureMatrix(sums / counts[:, None]).normalized()

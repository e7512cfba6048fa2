"""How good are pseudo labels? Pairwise precision/recall and ARI against the true identities.

Only for diagnostics: the embedded data (and Market's file names) know who is who, the methods
never see it. Outliers (-1) count as singletons: a pair involving one is never "together".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.sparse import coo_matrix

from reidkit.domain.types import PseudoLabels


def _pairs(counts: np.ndarray) -> float:
    counts = np.asarray(counts, dtype=np.float64)
    return float((counts * (counts - 1) / 2).sum())


class TrueIdentityScorer:
    """``score(labels)`` → precision, recall, f_score (pairwise) and ari, each in [0, 1] (ARI can
    dip below 0 for worse-than-chance labels)."""

    def __init__(self, true_ids: Sequence[int]) -> None:
        ids = np.asarray(true_ids, dtype=np.int64).reshape(-1)
        if ids.size == 0:
            raise ValueError("TrueIdentityScorer needs the true ids of at least one sample")
        _, self._truth = np.unique(ids, return_inverse=True)

    def score(self, labels: PseudoLabels) -> dict[str, float]:
        predicted = labels.labels
        n = self._truth.size
        if predicted.shape != (n,):
            raise ValueError(f"{len(predicted)} pseudo labels for {n} samples with true ids")
        # Outliers become singletons so that the contingency table covers every sample.
        outliers = predicted < 0
        clusters = predicted.copy()
        clusters[outliers] = predicted.max(initial=-1) + 1 + np.arange(int(outliers.sum()))
        table = coo_matrix((np.ones(n), (clusters, self._truth))).tocsr()
        together = _pairs(table.data)
        same_cluster = _pairs(np.bincount(clusters))
        same_id = _pairs(np.bincount(self._truth))
        precision = together / same_cluster if same_cluster else 1.0
        recall = together / same_id if same_id else 1.0
        f_score = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        expected = same_cluster * same_id / _pairs(np.array([n])) if n > 1 else 0.0
        mean = (same_cluster + same_id) / 2
        ari = (together - expected) / (mean - expected) if mean != expected else 1.0
        return {"precision": precision, "recall": recall, "f_score": f_score, "ari": ari}

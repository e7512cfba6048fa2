"""Label bookkeeping shared by the pseudo-labelers: renumbering, outliers, the degenerate-result
warning and the one log line every labeler emits."""

from __future__ import annotations

import numpy as np
import structlog

from reidkit.domain.types import PseudoLabels

_log = structlog.get_logger(__name__)


def renumber_by_first_appearance(labels: np.ndarray) -> np.ndarray:
    """Cluster ids 0, 1, ... in order of each cluster's first member; -1 stays -1."""
    labels = np.asarray(labels, dtype=np.int64)
    out = np.full(labels.shape, -1, dtype=np.int64)
    kept = labels >= 0
    if kept.any():
        values, first, inverse = np.unique(labels[kept], return_index=True, return_inverse=True)
        rank = np.empty(len(values), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(values))
        out[kept] = rank[inverse]
    return out


def outliers_to_singletons(labels: np.ndarray) -> np.ndarray:
    """Each -1 gets its own id after the existing ones, in index order (OpenUnReID's
    ``use_outliers=True``)."""
    labels = np.asarray(labels, dtype=np.int64).copy()
    outliers = np.flatnonzero(labels < 0)
    labels[outliers] = labels.max(initial=-1) + 1 + np.arange(len(outliers))
    return labels


def drop_small_clusters(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Members of clusters smaller than ``min_size`` become -1; the rest are renumbered."""
    labels = np.asarray(labels, dtype=np.int64)
    sizes = np.bincount(labels[labels >= 0], minlength=1)
    small = (labels < 0) | (sizes[np.maximum(labels, 0)] < min_size)
    return renumber_by_first_appearance(np.where(small, -1, labels))


def finish(labels: np.ndarray, labeler: str, **context: object) -> PseudoLabels:
    """Wrap as PseudoLabels, log the summary, and warn when the result is degenerate.

    Degenerate means fewer than two clusters of two or more members (no cluster at all, one
    cluster, or nothing but outliers and singletons): training on it teaches nothing, but it is
    still a valid labelling and the caller decides what to do.
    """
    result = PseudoLabels(labels)
    values = result.labels
    sizes = np.bincount(values[values >= 0], minlength=1) if values.size else np.zeros(1, np.int64)
    clusters = int((sizes >= 2).sum())
    singletons = int((sizes == 1).sum())
    summary = {
        "labeler": labeler,
        "samples": len(result),
        "clusters": clusters,
        "singletons": singletons,
        "outliers": result.num_outliers,
        **context,
    }
    if clusters < 2:
        reason = "no cluster" if clusters == 0 else "a single cluster"
        _log.warning("degenerate pseudo-labels", reason=reason, **summary)
    else:
        _log.info("pseudo-labels", **summary)
    return result

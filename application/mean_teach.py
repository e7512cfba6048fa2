"""MeanTeach: Mutual Mean-Teaching (Ge et al., ICLR'20) on the ClusterAdapt loop.

    restore the latest checkpoint, if any
    for each remaining epoch:
        features <- mean of both mean teachers' features
        labels   <- k-means (MMT) or DBSCAN (MMT+) on them
        both students' and both teachers' classifiers <- the cluster centroids
        for each batch (two augmented views):
            student i: hard CE + triplet, soft CE + soft triplet against teacher j != i
            optimiser step; each teacher <- EMA of its student
        evaluate (with a mean teacher) when scheduled; checkpoint

What differs from the other pseudo-label methods is only strategies (two-view batches, the
mutual step, the averaged feature source, four heads to reset), so this is ClusterAdapt itself.
"""

from __future__ import annotations

from typing import TypeVar

from attrs import define

from reidkit.application.cluster_adapt import ClusterAdapt

B = TypeVar("B")


@define
class MeanTeach(ClusterAdapt[B]):
    """ClusterAdapt given MMT's strategies (see the module docstring for the epoch)."""

"""k-means pseudo-labels with faiss (MMT's and OpenUnReID's k-means option).

Every sample gets the id of its nearest centroid, so there are no outliers. Centroids that end
up with no member leave gaps, hence the renumbering (by first appearance) at the end.

Seeding: OpenUnReID leaves faiss its own initialisation, k distinct random samples. On
well-separated data that often puts two centroids in one cluster and none in another, and
Lloyd's iterations cannot undo it (4 blobs: ~90% of seeds). MMT's original code used sklearn's
k-means++ instead. ``init="kmeans++"`` (the default) seeds faiss with k-means++ (Arthur &
Vassilvitskii 2007) drawn from our own seeded generator; ``init="random"`` is OpenUnReID's.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import structlog

from reidkit.adapters.clustering.labels import finish, renumber_by_first_appearance
from reidkit.domain.types import FeatureMatrix, PseudoLabels

_log = structlog.get_logger(__name__)


class KMeansLabeler:
    """PseudoLabeler: faiss k-means with ``num_clusters`` centroids, ``niter`` Lloyd iterations,
    seeded. ``use_gpu`` None means "when faiss sees a GPU". More clusters than samples is not an
    error: each sample then gets its own cluster (with a warning)."""

    def __init__(
        self,
        num_clusters: int,
        niter: int = 300,
        seed: int = 0,
        init: Literal["kmeans++", "random"] = "kmeans++",
        use_gpu: bool | None = None,
    ) -> None:
        if num_clusters < 1:
            raise ValueError(f"num_clusters must be >= 1, got {num_clusters}")
        if niter < 1:
            raise ValueError(f"niter must be >= 1, got {niter}")
        if init not in ("kmeans++", "random"):
            raise ValueError(f"init must be 'kmeans++' or 'random', got {init!r}")
        self.num_clusters, self.niter, self.seed, self.init, self.use_gpu = num_clusters, niter, seed, init, use_gpu

    def assign(self, features: FeatureMatrix) -> PseudoLabels:
        import faiss

        x = np.ascontiguousarray(features.values, dtype=np.float32)
        n = x.shape[0]
        if n == 0:
            return finish(np.empty(0, np.int64), "kmeans", num_clusters=self.num_clusters)
        k = min(self.num_clusters, n)
        if k < self.num_clusters:
            _log.warning("fewer samples than clusters", samples=n, num_clusters=self.num_clusters)
        use_gpu = faiss.get_num_gpus() > 0 if self.use_gpu is None else self.use_gpu
        # min_points_per_centroid only decides whether faiss prints a warning on stderr; our own
        # log line reports the outcome instead. max_points_per_centroid keeps faiss' default
        # subsampling (256 points per centroid), seeded like everything else.
        kmeans = faiss.Kmeans(
            x.shape[1], k, niter=self.niter, seed=self.seed, gpu=use_gpu, verbose=False, min_points_per_centroid=1
        )
        kmeans.train(x, init_centroids=kmeans_plus_plus(x, k, self.seed) if self.init == "kmeans++" else None)
        _, nearest = kmeans.index.search(x, 1)
        labels = renumber_by_first_appearance(nearest[:, 0])
        return finish(labels, "kmeans", num_clusters=self.num_clusters)


def kmeans_plus_plus(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k initial centroids: the first uniformly at random, each next one drawn with probability
    proportional to its squared distance from the nearest centroid chosen so far."""
    rng = np.random.default_rng(seed)
    n = x.shape[0]
    sq_norms = np.einsum("ij,ij->i", x, x, dtype=np.float64)
    chosen = np.empty(k, dtype=np.int64)
    chosen[0] = rng.integers(n)
    nearest = np.full(n, np.inf)
    for c in range(1, k):
        previous = chosen[c - 1]
        d2 = sq_norms + sq_norms[previous] - 2.0 * (x @ x[previous]).astype(np.float64)
        np.minimum(nearest, np.maximum(d2, 0.0), out=nearest)
        total = nearest.sum()
        # No mass left (only duplicates of chosen points): any point is as good as another.
        pick = rng.integers(n) if total <= 0 else np.searchsorted(np.cumsum(nearest), rng.random() * total, "right")
        chosen[c] = min(int(pick), n - 1)
    return np.ascontiguousarray(x[chosen], dtype=np.float32)

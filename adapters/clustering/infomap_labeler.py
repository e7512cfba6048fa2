"""InfoMap pseudo-labels on the cosine kNN graph (Cluster Contrast's InfoMap variant).

Each sample links to each of its k nearest neighbours (itself excluded) whose cosine similarity
is at least ``min_similarity``, weighted by that similarity; two-level directed InfoMap splits the
graph into modules. Samples with no qualifying link are never given to InfoMap and form their
own one-member clusters, and clusters smaller than ``min_cluster_size`` become outliers (-1).
Cluster Contrast calls these k1=15, eps=0.5 and "k2=4" and drops clusters of **at most** k2
members, so its setting is ``min_cluster_size=5``, our default.

The module is named infomap_labeler so that it can never shadow the ``infomap`` package.
"""

from __future__ import annotations

import numpy as np

from reidkit.adapters.clustering.knn import ExactKnn, KnnSearch
from reidkit.adapters.clustering.labels import drop_small_clusters, finish
from reidkit.domain.types import FeatureMatrix, PseudoLabels


class InfomapLabeler:
    """PseudoLabeler: kNN graph (k, min_similarity) → InfoMap (seeded) → small clusters to -1.

    Features are L2-normalised here, so that squared L2 distance d² gives cosine 1 - d²/2.
    """

    def __init__(
        self,
        k: int = 15,
        min_similarity: float = 0.5,
        min_cluster_size: int = 5,
        seed: int = 123,
        knn: KnnSearch | None = None,
    ) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if not -1.0 <= min_similarity <= 1.0:
            raise ValueError(f"min_similarity must be a cosine in [-1, 1], got {min_similarity}")
        if min_cluster_size < 1:
            raise ValueError(f"min_cluster_size must be >= 1, got {min_cluster_size}")
        self.k, self.min_similarity, self.min_cluster_size = k, min_similarity, min_cluster_size
        self.seed = seed
        self.knn = knn

    def assign(self, features: FeatureMatrix) -> PseudoLabels:
        n = len(features)
        if n == 0:
            return finish(np.empty(0, np.int64), "infomap")
        source, target, weight = self.links(features)
        labels = np.arange(n, dtype=np.int64)  # unlinked samples: their own cluster
        if source.size:
            modules = self._modules(source, target, weight)
            linked = np.fromiter(modules.keys(), dtype=np.int64, count=len(modules))
            module = np.fromiter(modules.values(), dtype=np.int64, count=len(modules))
            # Module ids are moved past the sample ids so that they cannot collide.
            labels[linked] = n + module
        labels = drop_small_clusters(labels, self.min_cluster_size)
        return finish(labels, "infomap", k=self.k, min_similarity=self.min_similarity)

    def links(self, features: FeatureMatrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Directed links (source, target, cosine) of the thresholded kNN graph, self excluded."""
        x = features.normalized().values
        n = x.shape[0]
        k = min(self.k + 1, n)
        distances, indices = (self.knn or ExactKnn()).search(x, k)
        source = np.repeat(np.arange(n, dtype=np.int64), k)
        target = indices.ravel()
        cosine = 1.0 - distances.ravel().astype(np.float64) / 2.0
        keep = (target >= 0) & (target != source) & (cosine >= self.min_similarity)
        return source[keep], target[keep], cosine[keep]

    def _modules(self, source: np.ndarray, target: np.ndarray, weight: np.ndarray) -> dict[int, int]:
        import infomap

        im = infomap.Infomap(two_level=True, directed=True, silent=True, seed=self.seed)
        im.add_links(np.column_stack([source, target, weight]))
        return im.run().modules()

"""DBSCAN on the k-reciprocal Jaccard distance (OpenUnReID / SpCL / Cluster Contrast pseudo-labels).

sklearn's DBSCAN with ``metric="precomputed"`` receives the sparse radius graph of
``jaccard.py`` instead of a dense N×N matrix: its neighbourhoods are the stored entries within
eps, exactly what the dense matrix would give because every pair left out is farther than eps.
Cluster ids are sklearn's (in the order it discovers clusters); with ``use_outliers`` each
outlier then gets its own id after the clusters, in index order, as upstream does. Without it
outliers stay -1 and the caller leaves them out of training.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from reidkit.adapters.clustering.jaccard import jaccard_graph
from reidkit.adapters.clustering.knn import KnnSearch
from reidkit.adapters.clustering.labels import finish, outliers_to_singletons
from reidkit.domain.types import FeatureMatrix, PseudoLabels


class DbscanLabeler:
    """PseudoLabeler: Jaccard(k1, k2) radius graph, then DBSCAN(eps, min_samples).

    ``knn`` is the neighbour search (default: exact faiss); features are used as given (upstream
    L2-normalises them first, which is the caller's choice here).
    """

    def __init__(
        self,
        k1: int = 30,
        k2: int = 6,
        eps: float = 0.6,
        min_samples: int = 4,
        use_outliers: bool = False,
        knn: KnnSearch | None = None,
    ) -> None:
        if k1 < 1:
            raise ValueError(f"k1 must be >= 1, got {k1}")
        if k2 < 1:
            raise ValueError(f"k2 must be >= 1, got {k2}")
        # Jaccard distances lie in [0, 1]; eps >= 1 would link every pair, even those sharing
        # no neighbour, which no sparse graph can represent (and no clustering wants).
        if not 0.0 < eps < 1.0:
            raise ValueError(f"eps must be in (0, 1), got {eps}")
        if min_samples < 1:
            raise ValueError(f"min_samples must be >= 1, got {min_samples}")
        self.k1, self.k2, self.eps, self.min_samples = k1, k2, eps, min_samples
        self.use_outliers = use_outliers
        self.knn = knn

    def assign(self, features: FeatureMatrix) -> PseudoLabels:
        if len(features) == 0:
            return finish(np.empty(0, np.int64), "dbscan", eps=self.eps)
        graph = self.distance_graph(features, self.eps)
        labels = self.cluster(graph, self.eps)
        if self.use_outliers:
            labels = outliers_to_singletons(labels)
        return finish(labels, "dbscan", eps=self.eps)

    def distance_graph(self, features: FeatureMatrix, max_distance: float) -> sp.csr_matrix:
        """The Jaccard radius graph up to ``max_distance`` (one graph serves every eps below it)."""
        return jaccard_graph(features.values, k1=self.k1, k2=self.k2, max_distance=max_distance, knn=self.knn)

    def cluster(self, graph: sp.csr_matrix, eps: float) -> np.ndarray:
        """sklearn's raw DBSCAN labels (-1 = noise) on a radius graph reaching at least ``eps``."""
        from sklearn.cluster import DBSCAN

        return DBSCAN(eps=eps, min_samples=self.min_samples, metric="precomputed").fit(graph).labels_.astype(np.int64)

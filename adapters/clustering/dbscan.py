"""DBSCAN on the k-reciprocal Jaccard distance (OpenUnReID / SpCL / Cluster Contrast pseudo-labels).

sklearn's DBSCAN with ``metric="precomputed"`` receives the sparse radius graph of
``jaccard.py`` instead of a dense N×N matrix: its neighbourhoods are the stored entries within
eps, exactly what the dense matrix would give because every pair left out is farther than eps.
Cluster ids are sklearn's (in the order it discovers clusters); with ``use_outliers`` each
outlier then gets its own id after the clusters, in index order, as upstream does. Without it
outliers stay -1 and the caller leaves them out of training.

The Jaccard graph is the expensive part, so the labeler keeps the one of its last call (the
FeatureMatrix object itself, compared by identity, with the radius the graph was built to). A
refiner that needs a wider graph of the same features (``self_paced.SelfPacedReliability`` needs
eps + gap) asks for it once with ``reach``: ``assign`` then builds its graph to that radius and the
refiner's ``distance_graph`` call right after reuses it. DBSCAN's labels do not change: its
neighbourhoods are the stored entries within eps (``data <= eps``, explicit zeros and the stored
diagonal included), and a graph built to a larger radius holds exactly the same entries within
eps, with the same distances, plus farther ones that DBSCAN leaves out. The kept graph (and the
features) stay alive until the next call replaces them: one graph of O(N·k) entries.
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
        self.graph_radius = eps
        self._memo: tuple[FeatureMatrix, float, sp.csr_matrix] | None = None

    def reach(self, max_distance: float) -> None:
        """From now on ``assign`` builds its graph to at least ``max_distance`` (never below eps),
        so that a caller needing a graph that wide for the same features gets it without a
        second Jaccard computation. Calls only ever widen it."""
        if not self.eps <= max_distance < 1.0:
            raise ValueError(f"max_distance must be in [eps={self.eps}, 1), got {max_distance}")
        self.graph_radius = max(self.graph_radius, max_distance)

    def assign(self, features: FeatureMatrix) -> PseudoLabels:
        if len(features) == 0:
            return finish(np.empty(0, np.int64), "dbscan", eps=self.eps)
        graph = self.distance_graph(features, self.graph_radius)
        labels = self.cluster(graph, self.eps)
        if self.use_outliers:
            labels = outliers_to_singletons(labels)
        return finish(labels, "dbscan", eps=self.eps)

    def distance_graph(self, features: FeatureMatrix, max_distance: float) -> sp.csr_matrix:
        """The Jaccard radius graph reaching at least ``max_distance`` (one graph serves every eps
        below its radius). The last call's graph is returned again when ``features`` is the same
        object and that graph was built at least as far; otherwise a graph is built to exactly
        ``max_distance`` and replaces it. Treat it as read-only: it may be handed out again."""
        if self._memo is not None:
            seen, radius, graph = self._memo
            if seen is features and radius >= max_distance:
                return graph
        graph = jaccard_graph(features.values, k1=self.k1, k2=self.k2, max_distance=max_distance, knn=self.knn)
        self._memo = (features, max_distance, graph)
        return graph

    def cluster(self, graph: sp.csr_matrix, eps: float) -> np.ndarray:
        """sklearn's raw DBSCAN labels (-1 = noise) on a radius graph reaching at least ``eps``."""
        from sklearn.cluster import DBSCAN

        return DBSCAN(eps=eps, min_samples=self.min_samples, metric="precomputed").fit(graph).labels_.astype(np.int64)

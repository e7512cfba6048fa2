"""The pseudo-labeler wiring, kept apart from torch so that ``reidkit label`` stays light.

``CoreContainer`` uses the same Selector; ``ClusteringContainer`` is all ``reidkit label`` builds,
so clustering saved features never imports torch (the whole process stays well under 1 GB).
"""

from __future__ import annotations

from dependency_injector import containers, providers

from reidkit.adapters.clustering.dbscan import DbscanLabeler
from reidkit.adapters.clustering.infomap_labeler import InfomapLabeler
from reidkit.adapters.clustering.kmeans import KMeansLabeler
from reidkit.adapters.clustering.knn import IvfKnn
from reidkit.adapters.clustering.self_paced import SelfPacedRefiner
from reidkit.domain.ports import PseudoLabeler


def dbscan_labeler(
    k1: int, k2: int, eps: float, min_samples: int, use_outliers: bool, self_paced: bool, eps_gap: float,
    approximate: bool,
) -> PseudoLabeler:
    knn = IvfKnn() if approximate else None  # None = exact faiss search; IVF is the reproducible approximation
    labeler = DbscanLabeler(k1=k1, k2=k2, eps=eps, min_samples=min_samples, use_outliers=use_outliers, knn=knn)
    return SelfPacedRefiner(labeler, eps_gap=eps_gap) if self_paced else labeler


def pseudo_labeler_selector(config: providers.Configuration) -> providers.Selector:
    """The ``[pseudo_labeler]`` table's ``kind`` picks the backend; the profile's seed seeds k-means."""
    settings = config.pseudo_labeler
    return providers.Selector(
        settings.kind,
        dbscan=providers.Singleton(
            dbscan_labeler,
            k1=settings.k1,
            k2=settings.k2,
            eps=settings.eps,
            min_samples=settings.min_samples,
            use_outliers=settings.use_outliers,
            self_paced=settings.self_paced,
            eps_gap=settings.eps_gap,
            approximate=settings.approximate,
        ),
        kmeans=providers.Singleton(KMeansLabeler, num_clusters=settings.num_clusters, niter=settings.niter, seed=config.seed),
        infomap=providers.Singleton(
            InfomapLabeler,
            k=settings.k,
            min_similarity=settings.min_similarity,
            min_cluster_size=settings.min_cluster_size,
        ),
    )


class ClusteringContainer(containers.DeclarativeContainer):
    """Only the pseudo-labeler, from a whole profile's settings."""

    config = providers.Configuration(strict=True)
    pseudo_labeler = pseudo_labeler_selector(config)

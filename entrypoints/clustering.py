"""The pseudo-labeler and its refiners, kept apart from torch so that ``reidkit label`` stays light.

Every adaptation method composes ``Clustering``; ``reidkit label`` builds it alone, so clustering
saved features never imports torch (the whole process stays well under 1 GB).
"""

from __future__ import annotations

from dependency_injector import containers, providers

from reidkit.adapters.clustering.dbscan import DbscanLabeler
from reidkit.adapters.clustering.infomap_labeler import InfomapLabeler
from reidkit.adapters.clustering.kmeans import KMeansLabeler
from reidkit.adapters.clustering.knn import ExactKnn, IvfKnn
from reidkit.adapters.clustering.self_paced import SelfPacedReliability
from reidkit.entrypoints.parts.keys import switch


class Clustering(containers.DeclarativeContainer):
    """``labeler`` by ``[pseudo_labeler] kind`` (the profile's seed seeds k-means); ``refiners`` by
    ``[refine] kind``, applied to its labels in order."""

    config = providers.Configuration(strict=True)

    labeler = providers.Selector(
        config.pseudo_labeler.kind,
        dbscan=providers.Singleton(
            DbscanLabeler,
            k1=config.pseudo_labeler.k1,
            k2=config.pseudo_labeler.k2,
            eps=config.pseudo_labeler.eps,
            min_samples=config.pseudo_labeler.min_samples,
            use_outliers=config.pseudo_labeler.use_outliers,
            # IVF is the reproducible approximation for large N
            knn=providers.Selector(
                providers.Callable(switch, config.pseudo_labeler.approximate),
                on=providers.Singleton(IvfKnn),
                off=providers.Singleton(ExactKnn),
            ),
        ),
        kmeans=providers.Singleton(
            KMeansLabeler,
            num_clusters=config.pseudo_labeler.num_clusters,
            niter=config.pseudo_labeler.niter,
            seed=config.seed,
        ),
        infomap=providers.Singleton(
            InfomapLabeler,
            k=config.pseudo_labeler.k,
            min_similarity=config.pseudo_labeler.min_similarity,
            min_cluster_size=config.pseudo_labeler.min_cluster_size,
        ),
    )
    refiners = providers.Selector(
        config.refine.kind,
        none=providers.List(),
        self_paced=providers.List(providers.Singleton(SelfPacedReliability, labeler, eps_gap=config.refine.eps_gap)),
    )

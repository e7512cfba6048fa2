"""The pseudo-labeler and its refiners, kept apart from torch so that ``reidkit label`` stays light.

Every adaptation method composes ``Clustering``; ``reidkit label`` builds it alone, so clustering
saved features never imports torch (the whole process stays well under 1 GB).
"""

from __future__ import annotations

from dependency_injector import containers, providers

from reidkit.adapters.clustering.dbscan import DbscanLabeler
from reidkit.adapters.clustering.infomap_labeler import InfomapLabeler
from reidkit.adapters.clustering.kmeans import KMeansLabeler
from reidkit.adapters.clustering.knn import ExactKnn, IvfKnn, KnnSearch, TorchKnn, faiss_gpus
from reidkit.adapters.clustering.self_paced import SelfPacedReliability
from reidkit.entrypoints.parts.keys import switch


def exact_knn(device: object = None) -> KnnSearch:
    """The exact kNN search: faiss' (on its GPU when it has one), or torch's on the training
    ``device`` when that is CUDA and faiss cannot use a GPU (faiss-cpu, or a faiss-gpu build that
    sees none); ``device`` None (``reidkit label``) is faiss."""
    cuda = device is not None and str(getattr(device, "type", device)).split(":")[0] == "cuda"
    if cuda and faiss_gpus() == 0:
        return TorchKnn(device)
    return ExactKnn()


class Clustering(containers.DeclarativeContainer):
    """``labeler`` by ``[pseudo_labeler] kind`` (the profile's seed seeds k-means); ``refiners`` by
    ``[refine] kind``, applied to its labels in order. ``device``: the training device (a run
    gives it; ``reidkit label`` has none), where the exact kNN may run (``exact_knn``)."""

    config = providers.Configuration(strict=True)
    device = providers.Object(None)
    exact_knn = providers.Singleton(exact_knn, device)

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
                off=exact_knn,
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
            knn=exact_knn,
        ),
    )
    refiners = providers.Selector(
        config.refine.kind,
        none=providers.List(),
        self_paced=providers.List(providers.Singleton(SelfPacedReliability, labeler, eps_gap=config.refine.eps_gap)),
    )

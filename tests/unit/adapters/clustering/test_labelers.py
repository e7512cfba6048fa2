"""Strategy-specific behaviour beyond the shared contract (tests/contract/test_pseudo_labelers.py)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import DBSCAN
from structlog.testing import capture_logs

from reidkit.adapters.clustering.dbscan import DbscanLabeler
from reidkit.adapters.clustering.infomap_labeler import InfomapLabeler
from reidkit.adapters.clustering.jaccard import densify, jaccard_graph
from reidkit.adapters.clustering.kmeans import KMeansLabeler, kmeans_plus_plus
from reidkit.adapters.clustering.labels import (
    drop_small_clusters,
    finish,
    outliers_to_singletons,
    renumber_by_first_appearance,
)
from tests.support.features import noisy_blobs
from reidkit.domain.types import FeatureMatrix


def test_label_helpers() -> None:
    np.testing.assert_array_equal(renumber_by_first_appearance([5, -1, 2, 5, 9, 2]), [0, -1, 1, 0, 2, 1])
    np.testing.assert_array_equal(outliers_to_singletons([1, -1, 0, -1, 1]), [1, 2, 0, 3, 1])
    np.testing.assert_array_equal(outliers_to_singletons([-1, -1]), [0, 1])
    np.testing.assert_array_equal(drop_small_clusters([3, 3, 1, 2, 2, 2, -1], 3), [-1, -1, -1, 0, 0, 0, -1])


def test_finish_warns_only_when_degenerate() -> None:
    with capture_logs() as logs:
        finish(np.array([0, 0, 1, 1, -1]), "x")
        finish(np.array([0, 0, 1]), "x")
    assert [entry["log_level"] for entry in logs] == ["info", "warning"]
    assert logs[1]["reason"] == "a single cluster"


def test_dbscan_on_the_radius_graph_equals_dbscan_on_the_dense_matrix() -> None:
    features = noisy_blobs()
    dense = densify(jaccard_graph(features.values, k1=20, k2=6))
    for eps in (0.45, 0.55, 0.6):
        expected = DBSCAN(eps=eps, min_samples=4, metric="precomputed").fit(dense).labels_
        got = DbscanLabeler(k1=20, k2=6, eps=eps, min_samples=4).assign(features).labels
        np.testing.assert_array_equal(got, expected)


def test_dbscan_outliers_become_singletons_after_the_clusters_in_index_order() -> None:
    features = noisy_blobs()
    dropped = DbscanLabeler(k1=20, k2=6, eps=0.5).assign(features).labels
    kept = DbscanLabeler(k1=20, k2=6, eps=0.5, use_outliers=True).assign(features).labels
    outliers = np.flatnonzero(dropped < 0)
    assert outliers.size > 0
    np.testing.assert_array_equal(kept[dropped >= 0], dropped[dropped >= 0])
    np.testing.assert_array_equal(kept[outliers], dropped.max() + 1 + np.arange(outliers.size))


def test_dbscan_with_no_core_point_keeps_everyone_out_and_warns() -> None:
    with capture_logs() as logs:
        labels = DbscanLabeler(min_samples=10).assign(noisy_blobs(n=6))
    np.testing.assert_array_equal(labels.labels, -1)
    assert logs[-1]["log_level"] == "warning" and logs[-1]["reason"] == "no cluster"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"k1": 0}, "k1"), ({"k2": 0}, "k2"), ({"eps": 1.0}, "eps"), ({"eps": 0.0}, "eps"), ({"min_samples": 0}, "min_samples")],
)
def test_dbscan_parameters_are_validated(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DbscanLabeler(**kwargs)


def test_kmeans_more_clusters_than_samples_gives_each_its_own() -> None:
    with capture_logs() as logs:
        labels = KMeansLabeler(num_clusters=10).assign(noisy_blobs(n=4))
    np.testing.assert_array_equal(np.sort(labels.labels), np.arange(4))
    assert any(entry["event"] == "fewer samples than clusters" for entry in logs)


def test_kmeans_random_init_is_upstreams_and_deterministic() -> None:
    features = noisy_blobs()
    a = KMeansLabeler(15, niter=10, init="random").assign(features).labels
    np.testing.assert_array_equal(KMeansLabeler(15, niter=10, init="random").assign(features).labels, a)
    assert a.max() + 1 <= 15 and a.min() >= 0


def test_kmeans_plus_plus_picks_distinct_far_points() -> None:
    x = np.repeat(np.eye(4, dtype=np.float32) * 10, 5, axis=0)
    seeds = kmeans_plus_plus(x, 4, seed=3)
    assert len({tuple(row) for row in seeds}) == 4


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"num_clusters": 0}, "num_clusters"), ({"niter": 0}, "niter"), ({"init": "x"}, "init")]
)
def test_kmeans_parameters_are_validated(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KMeansLabeler(**{"num_clusters": 3, **kwargs})


def test_infomap_links_skip_self_and_weak_neighbours() -> None:
    features = noisy_blobs(noise=0.5)
    source, target, weight = InfomapLabeler(k=5, min_similarity=0.8).links(features)
    assert np.all(source != target)
    assert np.all(weight >= 0.8)
    x = features.normalized().values
    np.testing.assert_allclose(weight, np.einsum("ij,ij->i", x[source], x[target]), atol=1e-5)


def test_infomap_drops_clusters_below_the_minimum_size() -> None:
    features = noisy_blobs(noise=0.5)
    small = InfomapLabeler(k=10, min_similarity=0.5, min_cluster_size=1).assign(features).labels
    sizes = np.bincount(small)
    big = InfomapLabeler(k=10, min_similarity=0.5, min_cluster_size=int(np.median(sizes)) + 1).assign(features).labels
    assert (big < 0).sum() == sizes[sizes <= np.median(sizes)].sum()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"k": 0}, "k must"), ({"min_similarity": 1.5}, "min_similarity"), ({"min_cluster_size": 0}, "min_cluster_size")],
)
def test_infomap_parameters_are_validated(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        InfomapLabeler(**kwargs)

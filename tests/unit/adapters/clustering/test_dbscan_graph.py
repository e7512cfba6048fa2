"""DbscanLabeler's graph: built wider on request (``reach``), kept for the next call on the same
features, and DBSCAN's labels the same on a graph built to any radius from eps up."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import reidkit.adapters.clustering.dbscan as dbscan
from reidkit.adapters.clustering.dbscan import DbscanLabeler
from reidkit.domain.types import FeatureMatrix
from tests.support.features import noisy_blobs


def with_duplicates(seed: int) -> FeatureMatrix:
    """Noisy blobs plus exact copies of 40 rows: identical encodings give explicit zero distances."""
    values = noisy_blobs(n=200, dim=16, centres=8, noise=1.2, seed=seed).values
    return FeatureMatrix(np.concatenate([values, values[:30], values[:10]]))


def triples(graph: sp.csr_matrix, within: float) -> np.ndarray:
    """(row, col, distance) of the stored entries at distance <= ``within``, in a canonical order."""
    rows = np.repeat(np.arange(graph.shape[0]), np.diff(graph.indptr))
    keep = graph.data <= within
    out = np.stack([rows[keep], graph.indices[keep], graph.data[keep].astype(np.float64)], axis=1)
    return out[np.lexsort(out.T[::-1])]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("eps", "radius"), [(0.5, 0.52), (0.5, 0.7), (0.6, 0.62), (0.6, 0.95)])
@pytest.mark.parametrize("min_samples", [2, 4])
def test_dbscan_ignores_what_a_wider_graph_adds(seed: int, eps: float, radius: float, min_samples: int) -> None:
    features = with_duplicates(seed)
    labeler = DbscanLabeler(k1=20, k2=6, eps=eps, min_samples=min_samples)
    narrow = labeler.distance_graph(features, eps)
    wide = labeler.distance_graph(FeatureMatrix(features.values), radius)
    rows = np.repeat(np.arange(narrow.shape[0]), np.diff(narrow.indptr))
    off_diagonal = rows != narrow.indices
    assert (narrow.data[off_diagonal] == 0).sum() >= 40, "the case should hold explicit zeros"
    assert narrow.diagonal().max() <= eps  # every point is its own neighbour in both graphs
    assert wide.nnz > narrow.nnz
    # Within eps the two graphs store the same pairs (explicit zeros, diagonal) at the same distances...
    np.testing.assert_array_equal(triples(wide, eps), triples(narrow, eps))
    # ...so DBSCAN at eps finds the same clusters, numbered the same, though the wide graph's extra
    # entries would change them if they counted (DBSCAN at the wider radius differs).
    labels = labeler.cluster(narrow, eps)
    np.testing.assert_array_equal(labeler.cluster(wide, eps), labels)
    assert labels.max() >= 1
    assert not np.array_equal(labeler.cluster(wide, radius), labels)


@pytest.mark.parametrize("use_outliers", [False, True])
@pytest.mark.parametrize("seed", [0, 3])
def test_assign_after_reach_gives_the_same_labels(seed: int, use_outliers: bool) -> None:
    features = noisy_blobs(n=400, dim=24, centres=20, noise=1.4, seed=seed)
    plain = DbscanLabeler(k1=20, k2=6, eps=0.5, use_outliers=use_outliers)
    wide = DbscanLabeler(k1=20, k2=6, eps=0.5, use_outliers=use_outliers)
    wide.reach(0.6)
    expected = plain.assign(features).labels
    assert expected.max() >= 5
    np.testing.assert_array_equal(wide.assign(features).labels, expected)


@pytest.fixture
def count_graphs(monkeypatch: pytest.MonkeyPatch) -> list[float | None]:
    """The max_distance of every Jaccard graph the labelers build, in call order."""
    calls: list[float | None] = []
    real = dbscan.jaccard_graph

    def counting(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(kwargs.get("max_distance"))
        return real(*args, **kwargs)

    monkeypatch.setattr(dbscan, "jaccard_graph", counting)
    return calls


def test_the_last_graph_is_kept_for_the_same_features_object(count_graphs: list) -> None:
    features = noisy_blobs(n=120, dim=16, centres=6, noise=1.0, seed=0)
    labeler = DbscanLabeler(k1=12, k2=4, eps=0.5)
    first = labeler.distance_graph(features, 0.55)
    assert labeler.distance_graph(features, 0.55) is first
    assert labeler.distance_graph(features, 0.5) is first  # built farther than asked: still serves
    assert count_graphs == [0.55]
    # Equal values in another object are not looked at: identity is the key.
    assert labeler.distance_graph(FeatureMatrix(features.values), 0.5) is not first
    # Asking farther than the kept graph reaches builds a new one, which replaces it.
    wider = labeler.distance_graph(features, 0.6)
    assert labeler.distance_graph(features, 0.58) is wider
    assert count_graphs == [0.55, 0.5, 0.6]


def test_reach_widens_assigns_graph_and_only_ever_widens(count_graphs: list) -> None:
    labeler = DbscanLabeler(k1=12, k2=4, eps=0.5)
    assert labeler.graph_radius == 0.5
    labeler.reach(0.6)
    labeler.reach(0.55)
    assert labeler.graph_radius == 0.6
    features = noisy_blobs(n=120, dim=16, centres=6, noise=1.0, seed=0)
    labeler.assign(features)
    labeler.assign(features)  # the same features again: the kept graph
    labeler.assign(FeatureMatrix(features.values))  # next epoch's features: a new graph
    assert count_graphs == [0.6, 0.6]


@pytest.mark.parametrize("radius", [0.49, 1.0, 1.5])
def test_reach_is_validated(radius: float) -> None:
    with pytest.raises(ValueError, match="max_distance"):
        DbscanLabeler(eps=0.5).reach(radius)

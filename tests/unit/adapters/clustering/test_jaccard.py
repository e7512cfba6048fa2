"""The sparse k-reciprocal Jaccard graph against a dense loop-per-row statement of it."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from reidkit.adapters.clustering.jaccard import densify, jaccard_graph
from tests.support.dense_reference import dense_jaccard


def clustered(n: int = 60, dim: int = 8, centres: int = 5, noise: float = 0.4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, dim))
    x = c[rng.integers(0, centres, n)] + noise * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize(("k1", "k2"), [(10, 3), (6, 1), (20, 6)])
def test_full_graph_matches_the_dense_statement(k1: int, k2: int) -> None:
    x = clustered()
    reference, _ = dense_jaccard(x, k1, k2)
    dense = densify(jaccard_graph(x, k1=k1, k2=k2))
    assert np.abs(dense - np.maximum(reference, 0.0)).max() < 1e-5


@pytest.mark.parametrize("eps", [0.3, 0.6, 0.9])
def test_radius_graph_is_the_full_graph_cut_at_eps(eps: float) -> None:
    x = clustered(n=120, seed=1)
    full = densify(jaccard_graph(x, k1=12, k2=4))
    radius = densify(jaccard_graph(x, k1=12, k2=4, max_distance=eps), fill=np.inf)
    stored = np.isfinite(radius)
    np.testing.assert_array_equal(stored, (full <= eps) | np.eye(len(x), dtype=bool))
    np.testing.assert_allclose(radius[stored], full[stored], atol=1e-6)


def test_graph_is_symmetric_with_rows_ordered_by_distance() -> None:
    graph = jaccard_graph(clustered(), k1=10, k2=3)
    dense = densify(graph)
    np.testing.assert_array_equal(dense, dense.T)
    for row in range(graph.shape[0]):
        values = graph.data[graph.indptr[row] : graph.indptr[row + 1]]
        assert np.all(np.diff(values) >= 0)


def test_duplicates_are_stored_as_explicit_zeros() -> None:
    x = np.repeat(clustered(n=10), 3, axis=0)  # every point three times
    graph = jaccard_graph(x, k1=6, k2=2, max_distance=0.5)
    assert graph.nnz > len(x)
    assert (graph.data == 0).sum() > len(x)  # more zeros than the diagonal alone
    assert isinstance(graph, sp.csr_matrix)


def test_unnormalised_far_apart_features_do_not_underflow() -> None:
    graph = jaccard_graph(clustered() * 1000.0, k1=10, k2=3, max_distance=0.6)
    assert np.all(np.isfinite(graph.data))
    np.testing.assert_allclose(graph.diagonal(), 0.0, atol=1e-6)


@pytest.mark.parametrize("n", [0, 1, 2, 5])
def test_tiny_inputs_cap_k_at_n(n: int) -> None:
    graph = jaccard_graph(clustered()[:n], k1=30, k2=6, max_distance=0.6)
    assert graph.shape == (n, n)
    if n:
        np.testing.assert_allclose(graph.diagonal(), 0.0, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"k1": 0}, "k1"), ({"k2": 0}, "k2"), ({"max_distance": 1.0}, "max_distance"), ({"max_distance": -0.1}, "max_distance")],
)
def test_invalid_parameters_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        jaccard_graph(clustered(), **kwargs)


def test_negative_zero_distances_stay_in_their_row() -> None:
    from reidkit.adapters.clustering.jaccard import _graph

    graph = _graph(3, np.array([0, 2]), np.array([2, 0]), np.array([-0.0, -0.0], np.float32), np.zeros(3, np.float32))
    stored = np.isfinite(densify(graph, fill=np.inf))
    np.testing.assert_array_equal(stored, [[True, False, True], [False, True, False], [True, False, True]])

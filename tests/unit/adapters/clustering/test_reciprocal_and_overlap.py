"""Building blocks of the encoding: neighbour tables, reciprocal sets, Σ min kernels."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from reidkit.adapters.clustering import overlap
from reidkit.adapters.clustering.reciprocal import encode, half_size, reciprocal_sets, self_first


def test_half_size_rounds_half_to_even_like_upstream() -> None:
    assert half_size(30) == 16
    assert half_size(20) == 11
    assert half_size(5) == 3  # round(2.5) = 2, + 1


def test_self_first_moves_the_point_to_the_front_or_inserts_it() -> None:
    indices = np.array([[0, 1, 2], [0, 1, 2], [0, 1, 3], [0, 1, 2]])
    distances = np.array([[0.1, 0.0, 0.2], [0.0, 0.0, 0.3], [0.0, 0.0, 0.1], [0, 0, 0]], dtype=np.float32)
    d, i = self_first(distances, indices)
    np.testing.assert_array_equal(i, [[0, 1, 2], [1, 0, 2], [2, 0, 1], [3, 0, 1]])
    np.testing.assert_array_equal(d[:, 0], 0.0)
    np.testing.assert_array_equal(d[1], np.array([0.0, 0.0, 0.3], dtype=np.float32))


def test_reciprocal_sets_keep_mutual_neighbours_only() -> None:
    # 0 and 1 list each other; 2 lists 1 but 1 does not list 2.
    indices = np.array([[0, 1], [1, 0], [2, 1]])
    r = reciprocal_sets(indices, 2).toarray()
    np.testing.assert_array_equal(r, [[1, 1, 0], [1, 1, 0], [0, 0, 1]])


def test_encoding_rows_are_distributions() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5)).astype(np.float32) * 50  # far apart: exp(-d²) underflows
    d2 = ((x[:, None] - x[None]) ** 2).sum(-1)
    idx = np.argsort(d2, axis=1)[:, :8]
    dist = np.take_along_axis(d2, idx, axis=1).astype(np.float32)
    v = encode(x, *self_first(dist, idx), 8, 5)
    np.testing.assert_allclose(np.asarray(v.sum(axis=1)).ravel(), 1.0, rtol=1e-6)
    assert np.all(np.isfinite(v.data)) and np.all(v.data >= 0)


def random_distributions(n: int, m: int, per_row: int, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n), per_row)
    cols = np.concatenate([rng.choice(m, per_row, replace=False) for _ in range(n)])
    v = sp.csr_matrix((rng.random(n * per_row), (rows, cols)), shape=(n, m))
    v = sp.diags(1.0 / np.asarray(v.sum(axis=1)).ravel()) @ v
    return sp.csr_matrix(v, dtype=np.float32)


def dense_min_sums(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.minimum(a[:, None, :], b[None, :, :]).sum(-1)


def test_min_sums_of_rows_in_small_blocks_match_dense() -> None:
    v = random_distributions(50, 30, 6, seed=0)
    dense = v.toarray()
    rows = np.array([3, 0, 7, 8, 9, 49])
    got = np.concatenate([block for _, block in overlap.min_sums_of_rows(v, rows, budget=40)])
    np.testing.assert_allclose(got, dense_min_sums(dense[rows], dense), atol=1e-6)
    other = v[20:]
    got = np.concatenate([block for _, block in overlap.min_sums_of_rows(v, rows, other=other, budget=40)])
    np.testing.assert_allclose(got, dense_min_sums(dense[rows], dense[20:]), atol=1e-6)


def test_candidate_pairs_hold_every_pair_above_the_threshold() -> None:
    v = random_distributions(80, 20, 5, seed=1)
    exact = dense_min_sums(v.toarray(), v.toarray())
    for threshold in (0.2, 0.4, 0.6):
        i, j = overlap.candidate_pairs(v, threshold, budget=100)
        assert np.all(i < j)
        found = set(zip(i.tolist(), j.tolist(), strict=True))
        wanted = {(a, b) for a, b in zip(*np.nonzero(exact >= threshold), strict=True) if a < b}
        assert wanted <= found
        np.testing.assert_allclose(overlap.min_sums_of_pairs(v, i, j), exact[i, j], atol=1e-6)

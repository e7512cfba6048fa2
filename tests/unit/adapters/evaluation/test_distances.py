"""pairwise_distance against the textbook formulas, computed naively in float64."""

from __future__ import annotations

import numpy as np
import pytest

from reidkit.adapters.evaluation.distances import block_rows, pairwise_distance, pairwise_distance_blocks


@pytest.fixture
def features():
    rng = np.random.default_rng(0)
    return rng.standard_normal((13, 16)).astype(np.float32), rng.standard_normal((29, 16)).astype(np.float32)


def naive_sq(q, g):
    q, g = q.astype(np.float64), g.astype(np.float64)
    return ((q[:, None, :] - g[None, :, :]) ** 2).sum(-1)


def naive_cosine(q, g):
    q, g = q.astype(np.float64), g.astype(np.float64)
    return 1 - (q @ g.T) / np.linalg.norm(q, axis=1)[:, None] / np.linalg.norm(g, axis=1)[None, :]


def test_squared_euclidean(features):
    q, g = features
    d = pairwise_distance(q, g, "sqeuclidean")
    assert d.dtype == np.float32 and d.shape == (13, 29)
    np.testing.assert_allclose(d, naive_sq(q, g), rtol=1e-5, atol=1e-4)


def test_euclidean_is_the_plain_distance_not_the_squared_one(features):
    q, g = features
    d = pairwise_distance(q, g, "euclidean")
    np.testing.assert_allclose(d, np.sqrt(naive_sq(q, g)), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(d**2, pairwise_distance(q, g, "sqeuclidean"), rtol=1e-5)


def test_cosine_is_one_minus_cosine_similarity(features):
    q, g = features
    d = pairwise_distance(q, g, "cosine")
    np.testing.assert_allclose(d, naive_cosine(q, g), atol=1e-6)
    assert d.min() >= -1e-6 and d.max() <= 2 + 1e-6


def test_cosine_ignores_scale_and_a_zero_row_is_at_distance_one(features):
    q, g = features
    np.testing.assert_allclose(pairwise_distance(q * 7.5, g, "cosine"), pairwise_distance(q, g, "cosine"), atol=1e-6)
    q = q.copy()
    q[0] = 0
    np.testing.assert_allclose(pairwise_distance(q, g, "cosine")[0], 1.0)


def test_identical_rows_are_at_distance_zero_never_negative(features):
    q, _ = features
    big = q * 1e3  # float32 cancellation in |q|^2 + |g|^2 - 2 q.g leaves a few ulps of |q|^2
    for metric in ("euclidean", "sqeuclidean"):
        d = pairwise_distance(big, big, metric)
        assert d.min() >= 0.0
        off_diagonal = d[~np.eye(len(d), dtype=bool)]
        assert np.diag(d).max() <= 1e-3 * off_diagonal.min()


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cosine"])
def test_chunking_does_not_change_the_matrix(features, metric):
    q, g = features
    whole = pairwise_distance(q, g, metric)
    for chunk_rows in (1, 4, 13, 100):
        np.testing.assert_allclose(pairwise_distance(q, g, metric, chunk_rows=chunk_rows), whole, rtol=1e-6, atol=1e-6)


def test_accepts_float64_and_readonly_inputs(features):
    q, g = features
    q64 = q.astype(np.float64)
    q64.setflags(write=False)
    np.testing.assert_allclose(pairwise_distance(q64, g, "sqeuclidean"), pairwise_distance(q, g, "sqeuclidean"))


@pytest.mark.parametrize(
    ("query", "gallery", "kwargs", "error", "message"),
    [
        (np.zeros((2, 3)), np.zeros((2, 4)), {}, ValueError, "dimension 3 but gallery has 4"),
        (np.zeros(3), np.zeros((2, 3)), {}, ValueError, "query features must be 2-D"),
        (np.zeros((2, 3)), [[0.0, 0.0, 0.0]], {}, TypeError, "gallery features must be a numpy array"),
        (np.array([[np.nan, 0, 0]]), np.zeros((2, 3)), {}, ValueError, "query features contain NaN"),
        (np.zeros((2, 3)), np.zeros((2, 3)), {"metric": "manhattan"}, ValueError, "metric must be one of"),
        (np.zeros((2, 3)), np.zeros((2, 3)), {"chunk_rows": 0}, ValueError, "chunk_rows"),
    ],
)
def test_bad_inputs_raise_naming_the_culprit(query, gallery, kwargs, error, message):
    with pytest.raises(error, match=message):
        pairwise_distance(query, gallery, **kwargs)


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cosine"])
def test_blocks_stack_to_the_matrix_to_the_bit(metric):
    rng = np.random.default_rng(4)
    q, g = rng.standard_normal((50, 33)).astype(np.float32), rng.standard_normal((70, 33)).astype(np.float32)
    whole = pairwise_distance(q, g, metric, chunk_rows=8)
    for budget, sizes in ((4 * 70 * 50, [50]), (4 * 70 * 17, [16, 16, 16, 2]), (4 * 70 * 8, [8] * 6 + [2])):
        blocks = list(pairwise_distance_blocks(q, g, metric, chunk_rows=8, max_block_bytes=budget))
        assert [len(b) for _, b in blocks] == sizes
        assert [r0 for r0, _ in blocks] == list(np.cumsum([0, *sizes[:-1]]))
        np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), whole)
    # Below one chunk the GEMMs narrow to the budget: same values up to float32 rounding.
    blocks = list(pairwise_distance_blocks(q, g, metric, chunk_rows=8, max_block_bytes=4 * 70 * 3))
    assert [len(b) for _, b in blocks] == [3] * 16 + [2]
    np.testing.assert_allclose(np.concatenate([b for _, b in blocks]), whole, rtol=1e-5, atol=1e-5)


def test_block_rows_follow_the_budget():
    assert block_rows(100, 10, 10**6, multiple=8) == 100  # all fit: one block
    assert block_rows(100, 10, 250, multiple=8) == 24  # whole chunks
    assert block_rows(100, 10, 70, multiple=8) == 7  # less than a chunk
    assert block_rows(100, 10, 5, multiple=8) == 1  # at least a row
    with pytest.raises(ValueError, match="max_block_bytes"):
        pairwise_distance_blocks(np.zeros((2, 3)), np.zeros((2, 3)), max_block_bytes=0)

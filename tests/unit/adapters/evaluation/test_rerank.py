"""Re-ranking against a dense statement of Zhong et al.'s algorithm, with the blocked neighbour
pass forced through many blocks."""

from __future__ import annotations

import numpy as np
import pytest

from reidkit.adapters.evaluation import rerank as rerank_module
from reidkit.adapters.evaluation.rerank import KReciprocalReranker, rerank, rerank_blocks
from tests.support.dense_reference import dense_rerank
from tests.unit.adapters.evaluation import rerank_reference


def people(num_q: int, num_g: int, dim: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((15, dim)) * 3.0
    q = centres[rng.integers(0, 15, num_q)] + rng.standard_normal((num_q, dim))
    g = centres[rng.integers(0, 15, num_g)] + rng.standard_normal((num_g, dim))
    return q.astype(np.float32), g.astype(np.float32)


@pytest.mark.parametrize("block", [16, 37, 2048])
def test_matches_the_dense_statement_whatever_the_block_size(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rerank_module, "_BLOCK", block)
    q, g = people(30, 120)
    got = rerank(q, g, k1=8, k2=3, lambda_value=0.3)
    assert got.shape == (30, 120) and got.dtype == np.float32
    np.testing.assert_allclose(got, dense_rerank(q, g, 8, 3, 0.3), atol=2e-6)


def test_lambda_one_is_the_normalised_squared_distance() -> None:
    q, g = people(10, 40)
    x = np.concatenate([q, g]).astype(np.float64)
    d2 = ((x[:, None] - x[None]) ** 2).sum(-1)
    expected = (d2 / d2.max(axis=1, keepdims=True))[:10, 10:]
    np.testing.assert_allclose(rerank(q, g, lambda_value=1.0), expected, atol=1e-5)


def test_coinciding_points_keep_the_candidate_lists_short(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rerank_module, "_BLOCK", 16)
    kept: list[int] = []
    original = rerank_module._smallest_per_row

    def spy(rows, cols, vals, order, n, k):  # noqa: ANN001, ANN202
        kept.append(len(rows))
        return original(rows, cols, vals, order, n, k)

    monkeypatch.setattr(rerank_module, "_smallest_per_row", spy)
    same = np.zeros((100, 4), dtype=np.float32)  # an untrained model's features, say
    out = rerank(same[:20], same[20:], k1=5, k2=2)
    assert np.all(np.isfinite(out))
    assert kept == [100 * 6]  # k1 + 1 per row, not 100 per row


def tied(num_q: int, num_g: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Small-integer features with repeated rows: equal distances everywhere, exact duplicates."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, (num_q + num_g, 5)).astype(np.float32)
    x[rng.integers(0, len(x), len(x) // 4)] = x[rng.integers(0, len(x), len(x) // 4)]
    return x[:num_q], x[num_q:]


DATASETS = {
    "people": lambda: people(47, 161, seed=3),
    "ties": lambda: tied(41, 150, seed=4),
    "more ties": lambda: tied(70, 60, seed=5),
}


@pytest.mark.parametrize("data", sorted(DATASETS))
@pytest.mark.parametrize(("block", "pending"), [(16, 1), (16, 97), (37, 1 << 22), (2048, 5)])
def test_equals_the_implementation_before_blocks_to_the_bit(
    data: str, block: int, pending: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Merging candidates as it goes (any ``_PENDING``) and recomputing the query rows in blocks
    pick the same neighbours, ties included, and give the same float32 values as before."""
    monkeypatch.setattr(rerank_module, "_BLOCK", block)
    monkeypatch.setattr(rerank_reference, "_BLOCK", block)
    monkeypatch.setattr(rerank_module, "_PENDING", pending)
    q, g = DATASETS[data]()
    want = rerank_reference.rerank(q, g, k1=6, k2=3, lambda_value=0.3)
    np.testing.assert_array_equal(rerank(q, g, k1=6, k2=3, lambda_value=0.3), want)
    for budget in (1, 7 * 4 * g.shape[0], 40 * 4 * g.shape[0] + 3, 10**9):
        blocks = list(rerank_blocks(q, g, k1=6, k2=3, lambda_value=0.3, max_block_bytes=budget))
        assert [r0 for r0, _ in blocks] == list(np.cumsum([0] + [len(b) for _, b in blocks[:-1]]))
        assert all(b.nbytes <= max(budget, 4 * g.shape[0]) for _, b in blocks)
        np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), want)


def test_blocks_split_and_group_the_distance_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rerank_module, "_BLOCK", 16)
    q, g = people(50, 30)  # query spans 0-16, 16-32, 32-48, and 48-50 (which also holds gallery rows)
    sizes = {
        budget: [len(b) for _, b in rerank_blocks(q, g, k1=5, max_block_bytes=budget)]
        for budget in (4 * 30 * 5, 4 * 30 * 16, 4 * 30 * 33, 4 * 30 * 50)
    }
    assert sizes[4 * 30 * 5] == [5, 5, 5, 1] * 3 + [2]  # spans cut into pieces of 5 rows
    assert sizes[4 * 30 * 16] == [16, 16, 16, 2]
    assert sizes[4 * 30 * 33] == [32, 18]  # whole spans, grouped while they fit
    assert sizes[4 * 30 * 50] == [50]  # all fits: one block, kept from the neighbour pass


def test_the_bound_reranker_hands_over_blocks() -> None:
    q, g = people(30, 50)
    reranker = KReciprocalReranker(k1=5, k2=2)
    blocks = list(reranker.blocks(q, g, max_block_bytes=4 * 50 * 7))
    np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), reranker(q, g))
    with pytest.raises(ValueError, match="max_block_bytes"):
        reranker.blocks(q, g, max_block_bytes=0)


def test_sets_smaller_than_k1_and_empty_sides() -> None:
    q, g = people(2, 3)
    assert np.all(np.isfinite(rerank(q, g, k1=20, k2=6)))
    assert rerank(q[:0], g).shape == (0, 3)
    assert rerank(q, g[:0]).shape == (2, 0)
    assert list(rerank_blocks(q[:0], g)) == []
    assert [b.shape for _, b in rerank_blocks(q, g[:0])] == [(2, 0)]


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"k1": 0}, "k1"), ({"k2": 0}, "k2"), ({"lambda_value": 1.5}, "lambda_value")]
)
def test_invalid_parameters_are_named(kwargs: dict, message: str) -> None:
    q, g = people(3, 5)
    with pytest.raises(ValueError, match=message):
        rerank(q, g, **kwargs)

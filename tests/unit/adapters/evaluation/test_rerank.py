"""Re-ranking against a dense statement of Zhong et al.'s algorithm, with the blocked neighbour
pass forced through many blocks."""

from __future__ import annotations

import numpy as np
import pytest

from reidkit.adapters.evaluation import rerank as rerank_module
from reidkit.adapters.evaluation.rerank import rerank
from tests.support.dense_reference import dense_rerank


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

    def spy(rows, cols, vals, n, k):  # noqa: ANN001, ANN202
        kept.append(len(rows))
        return original(rows, cols, vals, n, k)

    monkeypatch.setattr(rerank_module, "_smallest_per_row", spy)
    same = np.zeros((100, 4), dtype=np.float32)  # an untrained model's features, say
    out = rerank(same[:20], same[20:], k1=5, k2=2)
    assert np.all(np.isfinite(out))
    assert kept == [100 * 6]  # k1 + 1 per row, not 100 per row


def test_sets_smaller_than_k1_and_empty_sides() -> None:
    q, g = people(2, 3)
    assert np.all(np.isfinite(rerank(q, g, k1=20, k2=6)))
    assert rerank(q[:0], g).shape == (0, 3)
    assert rerank(q, g[:0]).shape == (2, 0)


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"k1": 0}, "k1"), ({"k2": 0}, "k2"), ({"lambda_value": 1.5}, "lambda_value")]
)
def test_invalid_parameters_are_named(kwargs: dict, message: str) -> None:
    q, g = people(3, 5)
    with pytest.raises(ValueError, match=message):
        rerank(q, g, **kwargs)

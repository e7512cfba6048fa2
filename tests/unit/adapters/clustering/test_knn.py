"""kNN searches: the exact one is brute force, the approximate ones find nearly all of it."""

from __future__ import annotations

import numpy as np
import pytest

from reidkit.adapters.clustering.knn import ExactKnn, HnswKnn, IvfKnn, KnnSearch


def clustered(n: int = 2000, dim: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((40, dim))
    return (c[rng.integers(0, 40, n)] + 0.3 * rng.standard_normal((n, dim))).astype(np.float32)


def test_exact_matches_brute_force() -> None:
    x = clustered(300)
    d, i = ExactKnn(use_gpu=False).search(x, 7)
    d2 = ((x[:, None].astype(np.float64) - x[None]) ** 2).sum(-1)
    assert d.dtype == np.float32 and i.dtype == np.int64 and i.shape == (300, 7)
    np.testing.assert_array_equal(i[:, 0], np.arange(300))
    np.testing.assert_allclose(d, np.sort(d2, axis=1)[:, :7], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("knn", [IvfKnn(nlist=32, nprobe=4), HnswKnn(m=16)], ids=["ivf", "hnsw"])
def test_approximate_searches_find_nearly_all_neighbours(knn: KnnSearch) -> None:
    x = clustered()
    _, exact = ExactKnn().search(x, 10)
    d, i = knn.search(x, 10)
    assert isinstance(knn, KnnSearch)
    assert i.shape == (len(x), 10) and i.dtype == np.int64 and d.dtype == np.float32
    hits = np.mean([len(np.intersect1d(a, b)) / 10 for a, b in zip(i, exact, strict=True)])
    assert hits >= 0.95


def test_ivf_is_deterministic() -> None:
    x = clustered()
    np.testing.assert_array_equal(IvfKnn(nlist=32, nprobe=4).search(x, 10)[1], IvfKnn(nlist=32, nprobe=4).search(x, 10)[1])


@pytest.mark.parametrize("k", [0, 301])
def test_k_must_fit_the_set(k: int) -> None:
    with pytest.raises(ValueError, match="k must be"):
        ExactKnn().search(clustered(300), k)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: IvfKnn(nlist=0), "nlist"),
        (lambda: IvfKnn(nprobe=0), "nprobe"),
        (lambda: IvfKnn(niter=0), "niter"),
        (lambda: HnswKnn(m=1), "m must"),
        (lambda: HnswKnn(ef_search=0), "ef_search"),
    ],
)
def test_invalid_parameters_are_named(factory, message: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=message):
        factory()

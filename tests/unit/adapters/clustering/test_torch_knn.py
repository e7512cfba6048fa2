"""TorchKnn: faiss' exact search with torch, a block of query rows at a time (the torch path runs
on the CPU here, the device being an argument)."""

from __future__ import annotations

import numpy as np
import pytest

from reidkit.adapters.clustering.knn import ExactKnn, KnnSearch, TorchKnn
from tests.unit.adapters.clustering.test_knn import clustered


def _agree(x: np.ndarray, k: int, knn: TorchKnn) -> None:
    reference_d, reference_i = ExactKnn(use_gpu=False).search(x, k)
    d, i = knn.search(x, k)
    assert d.dtype == np.float32 and i.dtype == np.int64 and i.shape == d.shape == (len(x), k)
    np.testing.assert_array_equal(i, reference_i)
    np.testing.assert_allclose(d, reference_d, rtol=1e-4, atol=1e-4)


def test_it_is_a_knn_search_that_finds_faiss_exact_neighbours() -> None:
    knn = TorchKnn("cpu")
    assert isinstance(knn, KnnSearch)
    _agree(clustered(500, dim=32), 10, knn)


# 37 rows: blocks of 1 row, blocks that do not divide N (36, 10), one that does (37), larger than N
@pytest.mark.parametrize("block_rows", [1, 10, 36, 37, 1000])
def test_block_boundaries_change_nothing(block_rows: int) -> None:
    x = np.random.default_rng(3).standard_normal((37, 8)).astype(np.float32)
    knn = TorchKnn("cpu", block_rows=block_rows)
    assert knn.rows_per_block(37) == block_rows
    _agree(x, 5, knn)


def test_k_may_be_the_whole_set_and_a_point_is_its_own_nearest() -> None:
    x = np.random.default_rng(4).standard_normal((23, 6)).astype(np.float32)
    d, i = TorchKnn(block_rows=4).search(x, 23)
    np.testing.assert_array_equal(i[:, 0], np.arange(23))
    assert (d >= 0).all() and (np.diff(d, axis=1) >= 0).all()
    assert all(sorted(row) == list(range(23)) for row in i.tolist())


def test_the_block_is_sized_by_elements_never_n_by_n() -> None:
    knn = TorchKnn(block_elements=1000)
    assert knn.rows_per_block(100) == 10
    assert knn.rows_per_block(10_000) == 1  # at least one row
    _agree(clustered(300), 7, TorchKnn(block_elements=300 * 16))  # 16 rows a block


@pytest.mark.parametrize("k", [0, 24])
def test_k_must_fit_the_set(k: int) -> None:
    with pytest.raises(ValueError, match="k must be"):
        TorchKnn().search(np.zeros((23, 4), dtype=np.float32), k)


@pytest.mark.parametrize(("kwargs", "message"), [({"block_rows": 0}, "block_rows"), ({"block_elements": 0}, "block_elements")])
def test_invalid_blocks_are_named(kwargs, message: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=message):
        TorchKnn(**kwargs)

"""RankZeroRefiner in a real 2-process gloo group: every rank gets rank 0's refined labels (or its
error), only rank 0 refines, and with DBSCAN and SpCL's criterion behind the rank-0 decorators
rank 0 builds one Jaccard graph for both and the other rank none."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reidkit.adapters.clustering.dbscan import DbscanLabeler
from reidkit.adapters.clustering.self_paced import SelfPacedReliability
from tests.distributed import workers


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """What each of the 2 ranks saw (one spawn for every scenario, see workers.rank_zero_refiner)."""
    out = tmp_path_factory.mktemp("rank_zero_refiner")
    workers.spawn(workers.rank_zero_refiner, out)
    return [torch.load(out / f"refiner_rank{r}.pt", weights_only=False) for r in range(workers.WORLD)]


def test_every_rank_trains_on_rank_zeros_refined_labels(ranks):
    for rank in ranks:
        # rank 0 drops cluster 0 of [0, 1, 2, 0, 1, 2]; rank 1 would have dropped cluster 1
        np.testing.assert_array_equal(rank["refined"], [-1, 0, 1, -1, 0, 1])
    assert [rank["refiner_calls"] for rank in ranks] == [1, 0]  # only rank 0 refines


def test_a_refining_failure_on_rank_zero_is_raised_on_every_rank(ranks):
    assert [rank.get("refine_error") for rank in ranks] == ["rank 0 could not refine"] * workers.WORLD


def test_self_paced_labels_come_from_rank_zeros_single_graph(ranks):
    labeler = DbscanLabeler(k1=10, k2=4, eps=0.5, min_samples=3, use_outliers=True)
    reliability = SelfPacedReliability(labeler)
    features = workers.self_paced_features()
    clustered = labeler.assign(features)
    expected = reliability.refine(features, clustered).labels
    np.testing.assert_array_equal(np.flatnonzero(expected != clustered.labels), [9, 74])  # two expelled
    np.testing.assert_array_equal(expected[[9, 74]], [23, 24])
    for rank in ranks:
        np.testing.assert_array_equal(rank["self_paced"], expected)
    assert [rank["graphs"] for rank in ranks] == [[0.52], []]  # eps + gap, once, on rank 0 only
    assert [rank["threshold"] for rank in ranks] == [pytest.approx(13 / 21), None]

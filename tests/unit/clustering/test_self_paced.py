"""SpCL's reliability criterion: the pure pieces, label-keyed outliers, the kept threshold."""

from __future__ import annotations

import numpy as np
import pytest

from reidkit.adapters.clustering.dbscan import DbscanLabeler
from reidkit.adapters.clustering.self_paced import (
    SelfPacedRefiner,
    cluster_minimum,
    expelled,
    independence_threshold,
    iou_with,
)
from reidkit.domain.types import FeatureMatrix
from tests.unit.clustering.test_labelers import noisy_blobs


def test_iou_of_each_samples_clusters() -> None:
    normal = np.array([0, 0, 0, 1, 1, 2])
    other = np.array([0, 0, 5, 1, 1, 1])
    # sample 0: {0,1,2} vs {0,1} -> 2/3; sample 2: {0,1,2} vs {2} -> 1/3; sample 5: {5} vs {3,4,5} -> 1/3
    np.testing.assert_allclose(iou_with(normal, other), [2 / 3, 2 / 3, 1 / 3, 2 / 3, 2 / 3, 1 / 3])


def test_cluster_minimum_and_upstreams_percentile_index() -> None:
    np.testing.assert_array_equal(cluster_minimum(np.array([0, 1, 0, 1]), np.array([0.5, 0.2, 0.1, 0.9])), [0.1, 0.2])
    scores = np.array([0.9, 0.1, 0.3, 0.2, 0.0])
    sizes = np.array([2, 2, 2, 1, 2])  # the one-member cluster is ignored
    # sorted multi-member scores [0, 0.1, 0.3, 0.9]: index min(3, round(3.6)) = 3
    assert independence_threshold(scores, sizes) == 0.9
    assert independence_threshold(scores, np.ones(5, dtype=int)) is None


def test_a_cluster_never_loses_its_last_member() -> None:
    labels = np.array([0, 1, 0, 1, 0, 2])
    fails = np.array([True, True, True, False, True, True])
    # cluster 0 fails entirely: its last member (index 4) stays; cluster 2 has one member.
    np.testing.assert_array_equal(expelled(labels, fails), [True, True, True, False, False, False])


def expulsion_case() -> FeatureMatrix:
    return noisy_blobs(n=400, dim=24, centres=20, noise=1.4, seed=3)


def test_without_outliers_expelled_samples_join_the_outliers() -> None:
    features = expulsion_case()
    kept = SelfPacedRefiner(DbscanLabeler(k1=20, k2=6, eps=0.5, use_outliers=True)).assign(features).labels
    dropped = SelfPacedRefiner(DbscanLabeler(k1=20, k2=6, eps=0.5, use_outliers=False)).assign(features).labels
    raw = DbscanLabeler(k1=20, k2=6, eps=0.5).assign(features).labels
    clusters = raw.max() + 1
    assert (kept >= clusters + (raw < 0).sum()).any(), "the case should expel someone"
    # Same decisions, only the naming differs: clusters keep their ids, the rest is -1.
    np.testing.assert_array_equal(dropped, np.where(kept < clusters, kept, -1))


def test_the_first_threshold_is_kept_and_checkpointed() -> None:
    refiner = SelfPacedRefiner(DbscanLabeler(k1=20, k2=6, eps=0.5, use_outliers=True))
    refiner.assign(expulsion_case())
    first = refiner.independence_threshold
    assert first is not None
    refiner.assign(noisy_blobs(n=300, dim=24, centres=10, noise=1.0, seed=9))
    assert refiner.independence_threshold == first
    fresh = SelfPacedRefiner(DbscanLabeler(k1=20, k2=6, eps=0.5, use_outliers=True))
    fresh.load_state_dict(refiner.state_dict())
    assert fresh.independence_threshold == first


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: SelfPacedRefiner(DbscanLabeler(eps=0.6), eps_gap=0.6), "eps_gap"),
        (lambda: SelfPacedRefiner(DbscanLabeler(eps=0.6), eps_gap=0.0), "eps_gap"),
        (lambda: SelfPacedRefiner(DbscanLabeler(eps=0.9), eps_gap=0.1), "eps_gap"),
        (lambda: SelfPacedRefiner(object()), "labeler"),  # type: ignore[arg-type]
    ],
)
def test_parameters_are_validated(factory, message: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=message):
        factory()

"""SpCL's reliability criterion: the pure pieces, label-keyed outliers, the kept threshold, one
Jaccard graph per epoch; as the refiner (``SelfPacedReliability``) and as the older labeler form
(``SelfPacedRefiner``, whose tests go when it does)."""

from __future__ import annotations

import numpy as np
import pytest
from structlog.testing import capture_logs

import reidkit.adapters.clustering.dbscan as dbscan
from reidkit.adapters.clustering.dbscan import DbscanLabeler
from reidkit.adapters.clustering.self_paced import (
    SelfPacedRefiner,
    SelfPacedReliability,
    cluster_minimum,
    expelled,
    independence_threshold,
    iou_with,
)
from reidkit.domain.ports import LabelRefiner
from reidkit.domain.types import FeatureMatrix, PseudoLabels
from tests.support.features import noisy_blobs


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


# --- the refiner: labeler.assign, then SelfPacedReliability.refine ---------------------------------

# What the expulsion case gives with k1=20, k2=6, eps=0.5: 13 clusters of two or more and 248
# DBSCAN outliers; these 15 samples fail the criterion, under the threshold 1/8.
EXPELLED = [13, 24, 40, 52, 54, 60, 72, 73, 127, 134, 172, 206, 297, 330, 357]
THRESHOLD = 0.125


def labeler(use_outliers: bool = True) -> DbscanLabeler:
    return DbscanLabeler(k1=20, k2=6, eps=0.5, use_outliers=use_outliers)


def labelled(refiner: SelfPacedReliability, features: FeatureMatrix) -> tuple[PseudoLabels, PseudoLabels]:
    """The labeler's labels and the refined ones."""
    labels = refiner.labeler.assign(features)
    return labels, refiner.refine(features, labels)


def test_the_refiner_satisfies_the_port() -> None:
    assert isinstance(SelfPacedReliability(labeler()), LabelRefiner)


def test_with_outliers_expelled_samples_get_new_labels_after_all_others() -> None:
    refiner = SelfPacedReliability(labeler(use_outliers=True))
    with capture_logs() as logs:
        before, after = labelled(refiner, expulsion_case())
    assert before.num_clusters == 261 and before.num_outliers == 0  # 13 clusters, 248 singletons
    changed = np.flatnonzero(after.labels != before.labels)
    np.testing.assert_array_equal(changed, EXPELLED)
    np.testing.assert_array_equal(after.labels[changed], 261 + np.arange(15))  # in index order
    assert after.num_clusters == 276
    # every cluster keeps a member, so the ids stay contiguous and no cluster disappears
    np.testing.assert_array_equal(np.unique(after.labels[after.labels < 261]), np.arange(261))
    assert refiner.independence_threshold == THRESHOLD
    assert logs[-1]["expelled"] == 15 and logs[-1]["eps"] == (0.48, 0.5, 0.52)


def test_refined_without_outliers_expelled_samples_join_the_outliers() -> None:
    features = expulsion_case()
    _, kept = labelled(SelfPacedReliability(labeler(use_outliers=True)), features)
    before, dropped = labelled(SelfPacedReliability(labeler(use_outliers=False)), features)
    assert before.num_clusters == 13 and before.num_outliers == 248
    # Same decisions, only the naming differs: clusters keep their ids, the rest is -1.
    np.testing.assert_array_equal(dropped.labels, np.where(kept.labels < 13, kept.labels, -1))
    np.testing.assert_array_equal(np.flatnonzero(dropped.labels != before.labels), EXPELLED)
    assert dropped.num_clusters == 13 and dropped.num_outliers == 248 + 15


def test_the_refiners_first_threshold_is_kept_and_checkpointed() -> None:
    later = noisy_blobs(n=300, dim=24, centres=10, noise=1.0, seed=9)
    alone = SelfPacedReliability(labeler())
    labelled(alone, later)
    assert alone.independence_threshold == pytest.approx(2 / 27)  # what ``later`` alone would set
    refiner = SelfPacedReliability(labeler())
    labelled(refiner, expulsion_case())
    assert refiner.independence_threshold == THRESHOLD
    _, second = labelled(refiner, later)
    assert refiner.independence_threshold == THRESHOLD
    assert refiner.state_dict() == {"independence_threshold": THRESHOLD}
    # A resumed run restores it before its first epoch and refines as the uninterrupted one did.
    resumed = SelfPacedReliability(labeler())
    resumed.load_state_dict(refiner.state_dict())
    np.testing.assert_array_equal(labelled(resumed, later)[1].labels, second.labels)
    assert resumed.independence_threshold == THRESHOLD
    assert SelfPacedReliability(labeler(), independence_threshold=THRESHOLD).state_dict() == refiner.state_dict()


def test_no_threshold_and_nobody_expelled_until_a_cluster_of_two_exists() -> None:
    def small() -> SelfPacedReliability:
        return SelfPacedReliability(DbscanLabeler(k1=4, k2=2, eps=0.5, use_outliers=True))

    refiner = small()
    apart = FeatureMatrix(np.eye(6, 8) * 100.0)
    before, after = labelled(refiner, apart)
    np.testing.assert_array_equal(before.labels, np.arange(6))  # six singletons
    np.testing.assert_array_equal(after.labels, np.arange(6))
    assert refiner.independence_threshold is None
    # The next call with clusters sets it, as a fresh refiner's first call would.
    blobs = noisy_blobs(n=60, dim=8, centres=6, noise=0.2, seed=1)
    np.testing.assert_array_equal(labelled(refiner, blobs)[1].labels, labelled(fresh := small(), blobs)[1].labels)
    assert refiner.independence_threshold == fresh.independence_threshold == 0.0


def test_empty_features_give_empty_labels_and_a_warning() -> None:
    refiner = SelfPacedReliability(labeler())
    with capture_logs() as logs:
        _, after = labelled(refiner, FeatureMatrix(np.zeros((0, 8))))
    assert len(after) == 0 and after.labels.dtype == np.int64
    assert logs[-1]["log_level"] == "warning" and logs[-1]["labeler"] == "self_paced_dbscan"
    assert refiner.independence_threshold is None


def test_the_graph_is_computed_once_per_assign_and_refine(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float | None] = []
    real = dbscan.jaccard_graph

    def counting(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(kwargs.get("max_distance"))
        return real(*args, **kwargs)

    monkeypatch.setattr(dbscan, "jaccard_graph", counting)
    refiner = SelfPacedReliability(labeler(), eps_gap=0.02)
    for epoch in range(2):  # a new FeatureMatrix each epoch, as a feature source gives
        _, after = labelled(refiner, FeatureMatrix(expulsion_case().values))
        assert len(calls) == epoch + 1
        np.testing.assert_array_equal(np.flatnonzero(after.labels >= 261), EXPELLED)
    assert calls == [0.52, 0.52]  # built once to eps + gap, for assign and refine together
    # Labels of features it did not just cluster (another object): it builds their graph itself.
    features = expulsion_case()
    other = labeler().assign(features)
    np.testing.assert_array_equal(np.flatnonzero(refiner.refine(features, other).labels >= 261), EXPELLED)
    assert len(calls) == 4


def test_the_labels_must_match_the_features() -> None:
    with pytest.raises(ValueError, match="3 labels for 4 samples"):
        SelfPacedReliability(labeler()).refine(FeatureMatrix(np.zeros((4, 2))), PseudoLabels(np.zeros(3)))


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: SelfPacedReliability(DbscanLabeler(eps=0.6), eps_gap=0.6), "eps_gap"),
        (lambda: SelfPacedReliability(DbscanLabeler(eps=0.6), eps_gap=0.0), "eps_gap"),
        (lambda: SelfPacedReliability(DbscanLabeler(eps=0.9), eps_gap=0.1), "eps_gap"),
        (lambda: SelfPacedReliability(object()), "labeler"),  # type: ignore[arg-type]
    ],
)
def test_the_refiners_parameters_are_validated(factory, message: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=message):
        factory()


def test_construction_widens_the_labelers_graph_to_eps_plus_gap() -> None:
    wrapped = DbscanLabeler(eps=0.6)
    SelfPacedReliability(wrapped, eps_gap=0.03)
    assert wrapped.graph_radius == pytest.approx(0.63)


@pytest.mark.parametrize("use_outliers", [False, True])
def test_the_labeler_form_gives_the_refiners_labels(use_outliers: bool) -> None:
    """SelfPacedRefiner (kept while the composition root builds it) is assign then refine."""
    features = expulsion_case()
    old = SelfPacedRefiner(labeler(use_outliers))
    np.testing.assert_array_equal(
        old.assign(features).labels, labelled(SelfPacedReliability(labeler(use_outliers)), features)[1].labels
    )
    assert old.state_dict() == {"independence_threshold": THRESHOLD}

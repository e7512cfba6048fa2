"""One contract, every PseudoLabeler: the production strategies and the recording fake.

What a trainer may rely on whatever the strategy: clean blobs are found exactly, the same input
gives the same labels, labels are int64 with contiguous ids and -1 only for outliers, and
degenerate inputs give valid labels and a warning instead of an exception.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score
from structlog.testing import capture_logs

from reidkit.adapters.clustering.dbscan import DbscanLabeler
from reidkit.adapters.clustering.gcn_links import GcnLinkRefiner
from reidkit.adapters.clustering.infomap_labeler import InfomapLabeler
from reidkit.adapters.clustering.kmeans import KMeansLabeler
from reidkit.adapters.clustering.knn import ExactKnn
from reidkit.adapters.clustering.self_paced import SelfPacedRefiner, SelfPacedReliability
from reidkit.domain.ports import LabelRefiner, PseudoLabeler
from reidkit.domain.types import FeatureMatrix, PseudoLabels
from tests.support.fakes import RecordingLabeler

NUM_BLOBS, PER_BLOB, DIM = 4, 12, 16


class Refined:
    """A labeler followed by a refiner, as the adaptation use-case runs them: the pair must keep
    the labeler contract."""

    def __init__(self, labeler: PseudoLabeler, refiner: LabelRefiner) -> None:
        self.labeler, self.refiner = labeler, refiner

    def assign(self, features: FeatureMatrix) -> PseudoLabels:
        return self.refiner.refine(features, self.labeler.assign(features))


def self_paced_reliability() -> Refined:
    labeler = DbscanLabeler(k1=PER_BLOB, k2=4, eps=0.5, min_samples=3, use_outliers=True)
    return Refined(labeler, SelfPacedReliability(labeler))


def glc_corrected() -> Refined:
    """DBSCAN's clusters corrected by GLC's network, sized for 48 samples (k 10, 32 wide, Adam)."""
    labeler = DbscanLabeler(k1=PER_BLOB, k2=4, eps=0.5, min_samples=3)
    refiner = GcnLinkRefiner(knn=ExactKnn(), k=10, hidden=32, subgraphs_per_epoch=4, edge_chunks=10,
                             optimizer="adam", lr=1e-2, min_cluster_size=3)  # fmt: skip
    return Refined(labeler, refiner)


# Settings scaled to the blobs: k1 = blob size keeps every k-reciprocal set inside its blob
# (k1=30 would reach across blobs when N=48).
STRATEGIES: dict[str, Callable[[], PseudoLabeler]] = {
    "dbscan": lambda: DbscanLabeler(k1=PER_BLOB, k2=4, eps=0.5, min_samples=3),
    "dbscan_use_outliers": lambda: DbscanLabeler(k1=PER_BLOB, k2=4, eps=0.5, min_samples=3, use_outliers=True),
    "kmeans": lambda: KMeansLabeler(num_clusters=NUM_BLOBS, niter=20, seed=0),
    "infomap": lambda: InfomapLabeler(k=6, min_similarity=0.5, min_cluster_size=3),
    "self_paced": lambda: SelfPacedRefiner(DbscanLabeler(k1=PER_BLOB, k2=4, eps=0.5, min_samples=3, use_outliers=True)),
    "self_paced_reliability": self_paced_reliability,
    "glc": glc_corrected,
    "recording_fake": lambda: RecordingLabeler(radius=0.5, min_size=2),
}


@pytest.fixture(params=sorted(STRATEGIES))
def make(request: pytest.FixtureRequest) -> Callable[[], PseudoLabeler]:
    return STRATEGIES[request.param]


def blobs(seed: int = 0) -> tuple[FeatureMatrix, np.ndarray]:
    """Tight blobs around orthogonal unit centres (pairwise centre distance sqrt(2)),
    shuffled so that no strategy can lean on the sample order."""
    rng = np.random.default_rng(seed)
    truth = rng.permutation(np.repeat(np.arange(NUM_BLOBS), PER_BLOB))
    x = np.eye(DIM)[truth] + rng.normal(scale=0.02, size=(len(truth), DIM))
    return FeatureMatrix(x / np.linalg.norm(x, axis=1, keepdims=True)), truth


def assert_valid(labels: PseudoLabels, n: int) -> None:
    values = labels.labels
    assert isinstance(labels, PseudoLabels)
    assert values.dtype == np.int64
    assert values.shape == (n,)
    assert values.size == 0 or values.min() >= -1
    used = np.unique(values[values >= 0])
    np.testing.assert_array_equal(used, np.arange(used.size))


def is_degenerate(labels: PseudoLabels) -> bool:
    values = labels.labels
    return int((np.bincount(values[values >= 0], minlength=1) >= 2).sum()) < 2


def test_satisfies_the_port(make: Callable[[], PseudoLabeler]) -> None:
    assert isinstance(make(), PseudoLabeler)


def test_finds_well_separated_blobs_exactly(make: Callable[[], PseudoLabeler]) -> None:
    features, truth = blobs()
    labels = make().assign(features)
    assert_valid(labels, len(truth))
    assert labels.num_outliers == 0
    assert adjusted_rand_score(truth, labels.labels) == 1.0


def test_same_input_same_labels(make: Callable[[], PseudoLabeler]) -> None:
    features, _ = blobs(seed=1)
    labeler = make()
    first = labeler.assign(features).labels
    np.testing.assert_array_equal(labeler.assign(features).labels, first)
    np.testing.assert_array_equal(make().assign(features).labels, first)


def test_labels_do_not_depend_on_the_input_buffer(make: Callable[[], PseudoLabeler]) -> None:
    features, _ = blobs(seed=2)
    copy = FeatureMatrix(np.asfortranarray(features.values.astype(np.float64)))
    np.testing.assert_array_equal(make().assign(copy).labels, make().assign(features).labels)


DEGENERATE = {
    "empty": np.zeros((0, DIM)),
    "one_sample": np.ones((1, DIM)),
    "identical_points": np.ones((10, DIM)),
    # Far apart (pairwise distance 100·sqrt(2)): no density-based cluster can form.
    "far_apart": np.eye(6, DIM) * 100.0,
}


@pytest.mark.parametrize("case", sorted(DEGENERATE))
def test_degenerate_input_gives_valid_labels_and_a_warning(make: Callable[[], PseudoLabeler], case: str) -> None:
    values = DEGENERATE[case]
    with capture_logs() as logs:
        labels = make().assign(FeatureMatrix(values))
    assert_valid(labels, len(values))
    if is_degenerate(labels):
        assert any(entry["log_level"] == "warning" for entry in logs), logs
    if case in ("empty", "one_sample", "identical_points"):
        assert is_degenerate(labels)


def test_the_fake_records_what_it_was_asked() -> None:
    fake = RecordingLabeler()
    features, _ = blobs()
    fake.assign(features)
    fake.assign(features)
    assert len(fake.calls) == 2
    np.testing.assert_allclose(fake.calls[0], features.values)

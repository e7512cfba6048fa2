"""Parity with OpenUnReID's pseudo-label generation (golden outputs of its CPU path, N=2000).

The golden Jaccard matrix is dense; ours is sparse and densified here with 1.0 where nothing is
stored (pairs sharing no neighbour), exactly upstream's value for those pairs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from reidkit.adapters.clustering.dbscan import DbscanLabeler
from reidkit.adapters.clustering.jaccard import densify, jaccard_graph
from reidkit.adapters.clustering.self_paced import SelfPacedRefiner, SelfPacedReliability
from reidkit.domain.types import FeatureMatrix


@pytest.fixture
def openunreid(golden: Path) -> Path:
    return golden / "openunreid"


@pytest.fixture
def features(openunreid: Path) -> np.ndarray:
    return np.load(openunreid / "features_n2000_d256.npy")


@pytest.fixture
def expected(openunreid: Path) -> dict:
    return json.loads((openunreid / "expected.json").read_text())


def test_full_jaccard_matches_the_dense_golden(openunreid: Path, features: np.ndarray) -> None:
    reference = np.load(openunreid / "jaccard_k1_30_k2_6_n2000.npy")
    graph = jaccard_graph(features, k1=30, k2=6)
    dense = densify(graph, fill=1.0)
    assert np.abs(dense - reference).max() <= 1e-5
    # Exactly the pairs upstream puts below 1 (those sharing a neighbour, diagonal included).
    assert graph.nnz == int((reference < 1.0).sum())


def test_radius_graph_holds_exactly_the_pairs_within_eps(openunreid: Path, features: np.ndarray) -> None:
    reference = np.load(openunreid / "jaccard_k1_30_k2_6_n2000.npy")
    graph = jaccard_graph(features, k1=30, k2=6, max_distance=0.62)
    dense = densify(graph, fill=np.inf)
    stored = np.isfinite(dense)
    np.testing.assert_array_equal(stored, (reference <= 0.62) | np.eye(len(reference), dtype=bool))
    assert np.abs(dense[stored] - reference[stored]).max() <= 1e-5


@pytest.mark.parametrize(
    ("use_outliers", "name", "key"),
    [
        (False, "dbscan_eps0.6_ms4_labels_no_outliers.npy", "eps0.6_noout"),
        (True, "dbscan_eps0.6_ms4_labels_use_outliers.npy", "eps0.6_useout"),
    ],
)
@pytest.mark.parametrize("reach", [None, 0.62, 0.8])
def test_dbscan_labels_match(
    openunreid: Path,
    features: np.ndarray,
    expected: dict,
    use_outliers: bool,
    name: str,
    key: str,
    reach: float | None,
) -> None:
    """Whether the graph is built to eps or farther (for the self-paced refiner): same labels."""
    reference = np.load(openunreid / name)
    labeler = DbscanLabeler(k1=30, k2=6, eps=0.6, min_samples=4, use_outliers=use_outliers)
    if reach is not None:
        labeler.reach(reach)
    labels = labeler.assign(FeatureMatrix(features))
    assert adjusted_rand_score(reference, labels.labels) == 1.0
    # Same numbering too: sklearn's cluster order, then outliers in index order.
    np.testing.assert_array_equal(labels.labels, reference)
    counts = expected["dbscan_eps0.6_min_samples4"][key]
    assert labels.num_clusters == counts["num_labels"]
    assert labels.num_outliers == counts["num_minus1"]


def test_spcl_reliability_refiner_labels_match(openunreid: Path, features: np.ndarray, expected: dict) -> None:
    """The refiner path: DBSCAN's labels (its graph built to eps + gap), then the criterion on them."""
    reference = np.load(openunreid / "spcl_reliability_labels_use_outliers.npy")
    labeler = DbscanLabeler(k1=30, k2=6, eps=0.6, min_samples=4, use_outliers=True)
    refiner = SelfPacedReliability(labeler, eps_gap=0.02)
    matrix = FeatureMatrix(features)
    clustered = labeler.assign(matrix)
    np.testing.assert_array_equal(clustered.labels, np.load(openunreid / "dbscan_eps0.6_ms4_labels_use_outliers.npy"))
    labels = refiner.refine(matrix, clustered)
    assert adjusted_rand_score(reference, labels.labels) == 1.0
    counts = expected["spcl_reliability_eps_0.58_0.6_0.62_use_outliers"]
    sizes = np.bincount(labels.labels)
    assert int((sizes >= 2).sum()) == counts["num_clusters_ge2"]
    assert int((sizes == 1).sum()) == counts["num_singleton_labels"]
    assert labels.num_clusters == counts["num_labels"] and labels.num_outliers == counts["num_minus1"]
    assert int(sizes.max()) == counts["largest_cluster"]
    assert refiner.independence_threshold == pytest.approx(counts["indep_thres"])
    # The labeler form (kept while the composition root builds it) gives the very same labels.
    np.testing.assert_array_equal(
        SelfPacedRefiner(DbscanLabeler(k1=30, k2=6, eps=0.6, min_samples=4, use_outliers=True)).assign(matrix).labels,
        labels.labels,
    )


def test_spcl_reliability_labels_match(openunreid: Path, features: np.ndarray, expected: dict) -> None:
    reference = np.load(openunreid / "spcl_reliability_labels_use_outliers.npy")
    refiner = SelfPacedRefiner(DbscanLabeler(k1=30, k2=6, eps=0.6, min_samples=4, use_outliers=True), eps_gap=0.02)
    labels = refiner.assign(FeatureMatrix(features))
    assert adjusted_rand_score(reference, labels.labels) == 1.0
    counts = expected["spcl_reliability_eps_0.58_0.6_0.62_use_outliers"]
    sizes = np.bincount(labels.labels)
    assert int((sizes >= 2).sum()) == counts["num_clusters_ge2"]
    assert int((sizes == 1).sum()) == counts["num_singleton_labels"]
    assert refiner.independence_threshold == pytest.approx(counts["indep_thres"])

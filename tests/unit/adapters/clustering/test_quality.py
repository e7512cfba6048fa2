"""Pseudo-label quality against the true ids: hand-counted pairs and sklearn's ARI."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from reidkit.adapters.clustering.quality import TrueIdentityScorer
from reidkit.domain.types import PseudoLabels


def test_perfect_labels_score_one_whatever_the_ids():
    scores = TrueIdentityScorer([7, 7, 3, 3, 3]).score(PseudoLabels([1, 1, 0, 0, 0]))
    assert scores == {"precision": 1.0, "recall": 1.0, "f_score": 1.0, "ari": 1.0}


def test_pairs_counted_by_hand_with_an_outlier():
    # true: {0,1,2} {3,4}; predicted: {0,1,3} {2 outlier} {4 alone in cluster 1}
    scores = TrueIdentityScorer([0, 0, 0, 1, 1]).score(PseudoLabels([0, 0, -1, 0, 1]))
    # predicted pairs: (0,1) (0,3) (1,3) -> 1 correct; true pairs: (0,1) (0,2) (1,2) (3,4) -> 1 found
    assert scores["precision"] == pytest.approx(1 / 3)
    assert scores["recall"] == pytest.approx(1 / 4)
    assert scores["f_score"] == pytest.approx(2 * (1 / 3) * (1 / 4) / (1 / 3 + 1 / 4))


def test_ari_matches_sklearn_with_outliers_as_singletons():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 20, 300)
    predicted = np.where(rng.random(300) < 0.8, truth, -1)
    predicted = np.where(rng.random(300) < 0.1, (truth + 1) % 20, predicted)
    kept = np.unique(predicted[predicted >= 0])
    predicted = np.where(predicted >= 0, np.searchsorted(kept, predicted), -1)
    singletons = predicted.copy()
    singletons[predicted < 0] = 1000 + np.arange((predicted < 0).sum())
    score = TrueIdentityScorer(truth).score(PseudoLabels(predicted))["ari"]
    assert score == pytest.approx(adjusted_rand_score(truth, singletons), abs=1e-12)


def test_length_mismatch_and_empty_truth_are_refused():
    with pytest.raises(ValueError, match="2 pseudo labels for 3 samples"):
        TrueIdentityScorer([0, 1, 2]).score(PseudoLabels([0, 0]))
    with pytest.raises(ValueError, match="at least one sample"):
        TrueIdentityScorer([])

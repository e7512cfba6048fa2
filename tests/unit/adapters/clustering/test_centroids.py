"""Class centroids: normalised class means, outliers skipped, gaps refused."""

from __future__ import annotations

import numpy as np
import pytest

from reidkit.adapters.clustering.centroids import class_centroids
from reidkit.domain.types import FeatureMatrix


def test_centroids_are_normalised_class_means_skipping_outliers():
    values = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 3.0], [2.0, 3.0], [9.0, 9.0]], dtype=np.float32)
    centroids = class_centroids(FeatureMatrix(values), [0, 0, 1, 0, -1])
    np.testing.assert_allclose(centroids.values, [[0.6, 0.8], [0.0, 1.0]], atol=1e-6)


def test_a_single_member_cluster_is_that_member_normalised():
    centroids = class_centroids(FeatureMatrix([[3.0, 4.0]]), [0])
    np.testing.assert_allclose(centroids.values, [[0.6, 0.8]], atol=1e-6)


@pytest.mark.parametrize(
    ("labels", "match"),
    [([0, 1], r"must be \(3,\)"), ([0, 2, 2], "contiguous from 0; 1 has no sample"), ([-1, -1, -1], "all labels are -1")],
)
def test_bad_labels_are_named(labels, match):
    with pytest.raises(ValueError, match=match):
        class_centroids(FeatureMatrix(np.ones((3, 2))), labels)

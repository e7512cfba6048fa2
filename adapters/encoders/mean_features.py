"""The mean of several feature sources: MMT clusters the average of its two mean teachers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reidkit.domain.ports import FeatureSource
from reidkit.domain.types import FeatureMatrix


def mean_of_normalised(features: Sequence[FeatureMatrix]) -> FeatureMatrix:
    """The L2-normalised mean of the (normalised) matrices: no source weighs more for its scale."""
    if not features:
        raise ValueError("mean_of_normalised needs at least one feature matrix")
    matrices = [matrix.normalized().values for matrix in features]
    shapes = {m.shape for m in matrices}
    if len(shapes) != 1:
        raise ValueError(f"feature sources disagree on shape: {sorted(shapes)}")
    return FeatureMatrix(np.mean(matrices, axis=0)).normalized()


class MeanOfFeatures:
    """A ``FeatureSource``: ``mean_of_normalised`` over the sources' features."""

    def __init__(self, sources: Sequence[FeatureSource]) -> None:
        if not sources:
            raise ValueError("MeanOfFeatures needs at least one feature source")
        self.sources = tuple(sources)

    def collect(self) -> FeatureMatrix:
        return mean_of_normalised([source.collect() for source in self.sources])

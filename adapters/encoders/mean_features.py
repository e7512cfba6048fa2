"""The mean of several feature sources: MMT clusters the average of its two mean teachers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reidkit.domain.ports import FeatureSource
from reidkit.domain.types import FeatureMatrix


class MeanOfFeatures:
    """A ``FeatureSource``: the L2-normalised mean of the sources' (normalised) features."""

    def __init__(self, sources: Sequence[FeatureSource]) -> None:
        if not sources:
            raise ValueError("MeanOfFeatures needs at least one feature source")
        self.sources = tuple(sources)

    def collect(self) -> FeatureMatrix:
        matrices = [source.collect().normalized().values for source in self.sources]
        shapes = {m.shape for m in matrices}
        if len(shapes) != 1:
            raise ValueError(f"feature sources disagree on shape: {sorted(shapes)}")
        return FeatureMatrix(np.mean(matrices, axis=0)).normalized()

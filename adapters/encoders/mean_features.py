"""The mean of several feature sources: MMT clusters the average of its two mean teachers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reidkit.domain.ports import FeatureSource
from reidkit.domain.types import FeatureMatrix


class MeanOfFeatures:
    """A ``FeatureSource``: the L2-normalised mean of the sources' (normalised) features. Each
    source's own matrix of the latest ``collect`` stays readable through ``part(i)``, so a model
    can take its classifier's centroids from its own feature space without a second extraction."""

    def __init__(self, sources: Sequence[FeatureSource]) -> None:
        if not sources:
            raise ValueError("MeanOfFeatures needs at least one feature source")
        self.sources = tuple(sources)
        self._parts: tuple[FeatureMatrix, ...] | None = None

    def collect(self) -> FeatureMatrix:
        parts = tuple(source.collect().normalized() for source in self.sources)
        shapes = {part.values.shape for part in parts}
        if len(shapes) != 1:
            raise ValueError(f"feature sources disagree on shape: {sorted(shapes)}")
        self._parts = parts
        return FeatureMatrix(np.mean([part.values for part in parts], axis=0)).normalized()

    def part(self, index: int) -> LatestPart:
        if not 0 <= index < len(self.sources):
            raise ValueError(f"part {index} of {len(self.sources)} feature sources does not exist")
        return LatestPart(self, index)

    def latest(self, index: int) -> FeatureMatrix:
        if self._parts is None:
            raise RuntimeError("MeanOfFeatures.collect() has not run yet: no part to read")
        return self._parts[index]


class LatestPart:
    """A ``FeatureSource``: source ``index``'s normalised features from the mean's latest
    ``collect`` (read after it, as label consumers are)."""

    def __init__(self, mean: MeanOfFeatures, index: int) -> None:
        self.mean = mean
        self.index = index

    def collect(self) -> FeatureMatrix:
        return self.mean.latest(self.index)

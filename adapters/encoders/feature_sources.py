"""FeatureSource adapters: what an adaptation method clusters at the start of each epoch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from reidkit.adapters.clustering.centroids import class_centroids
from reidkit.domain.ports import FeatureEncoder, MemoryBank
from reidkit.domain.types import FeatureMatrix, ImageRecord


class EncodedFeatures:
    """The current encoder's (L2-normalised) features of the unlabelled training images:
    the strong baseline, UDA_TP and Cluster Contrast re-extract every epoch."""

    def __init__(self, encoder: FeatureEncoder, records: Sequence[ImageRecord], *, normalize: bool = True) -> None:
        if not records:
            raise ValueError("EncodedFeatures needs at least one training record to cluster")
        self.encoder = encoder
        self.records = tuple(records)
        self.normalize = normalize

    def collect(self) -> FeatureMatrix:
        features = self.encoder.encode(self.records)
        return features.normalized() if self.normalize else features


class MemoryFeatures:
    """SpCL clusters its hybrid memory's instance rows, which training keeps up to date; the
    encoder runs once, to fill an empty memory (target instances, plus source class centroids in
    UDA). A memory restored from a checkpoint is already full, so a resumed run never refills it
    from the restored weights (upstream re-initialises it, silently changing the run).

    ``refresh=True`` refills the memory from the encoder at every epoch instead, so the clustering
    sees clean eval-mode features of the current model rather than the momentum rows, which are
    train-mode features of augmented images written at different points of the last epoch by a
    changing model. On the demo target the momentum rows fragmented the labels within one epoch
    (docs/adaptation.md); a resumed run refills at the same epoch boundary, so resume stays exact.

    The memory is any ``MemoryBank`` (a hybrid memory, or the distributed decorator around one).
    What it clusters must be one row per target image: a memory whose label space counts other
    source classes than the source identities given here is refused rather than let a centroid
    pose as a target image (or a target image as a class)."""

    def __init__(
        self,
        memory: MemoryBank[Any, Any],
        encoder: FeatureEncoder,
        target_records: Sequence[ImageRecord],
        source_records: Sequence[ImageRecord] = (),
        *,
        refresh: bool = False,
    ) -> None:
        if not target_records:
            raise ValueError("MemoryFeatures needs the unlabelled target training records")
        self.refresh = refresh
        self.memory = memory
        self.encoder = encoder
        self.target_records = tuple(target_records)
        self.source_records = tuple(source_records)

    def collect(self) -> FeatureMatrix:
        if self.refresh or not self.memory.initialized:
            self.memory.initialize(self.rows())
        features = self.memory.snapshot()
        if len(features) != len(self.target_records):
            identities = len({r.pid for r in self.source_records})
            raise ValueError(
                f"the memory has {len(features)} target rows for {len(self.target_records)} target images: "
                f"its label space's source classes must be the {identities} source identities"
            )
        return features

    def rows(self) -> FeatureMatrix:
        """What fills the memory: the source class centroids (the normalised mean of each source
        identity's normalised features; none without source records), then the normalised target
        features, one row per target image."""
        target = self.encoder.encode(self.target_records).normalized()
        if not self.source_records:
            return target
        source = self.encoder.encode(self.source_records).normalized()
        centroids = class_centroids(source, [r.pid for r in self.source_records])
        return FeatureMatrix(np.concatenate([centroids.values, target.values]))

"""ClusterAdapt: learning from pseudo labels on an unlabelled domain (USL, or UDA after or
alongside source training). The strong cluster baseline, UDA_TP, SpCL and Cluster Contrast are
all this loop; they differ only in the strategies they are given.

    restore the latest checkpoint, if any
    for each remaining epoch:
        features <- what the method clusters (encoder features, or a memory's own rows)
        labels   <- cluster(features), then each refiner in turn
        reset everything sized by the labels (memories, classifier heads, samplers)
        for each batch: take one optimisation step
        evaluate when scheduled; checkpoint
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from attrs import define, field

from reidkit.application.epoch_loop import EpochLoop
from reidkit.domain.ports import FeatureSource, LabelConsumer, LabelRefiner, LabelScorer, PseudoLabeler
from reidkit.domain.types import PseudoLabels, TrainingProgress

B = TypeVar("B")


@define
class ClusterAdapt(Generic[B]):
    """``loop`` trains; before each epoch the pseudo labels are rebuilt and handed to
    ``consumers`` in order. ``scorer`` only reports label quality, it never feeds training."""

    loop: EpochLoop[B]
    features: FeatureSource
    labeler: PseudoLabeler
    consumers: Sequence[LabelConsumer] = field(converter=tuple)
    refiners: Sequence[LabelRefiner] = field(default=(), converter=tuple)
    scorer: LabelScorer | None = None

    def run(self) -> TrainingProgress:
        return self.loop.run(prepare=self.relabel)

    def relabel(self, epoch: int) -> PseudoLabels:
        features = self.features.collect()
        labels = self.labeler.assign(features)
        for refiner in self.refiners:
            labels = refiner.refine(features, labels)
        if len(labels) != len(features):
            raise ValueError(f"epoch {epoch}: {len(labels)} pseudo labels for {len(features)} samples")
        quality = self.scorer.score(labels) if self.scorer is not None else {}
        self.loop.observer.on_pseudo_labels(epoch, labels, quality)
        for consumer in self.consumers:
            consumer.reset(features, labels)
        return labels

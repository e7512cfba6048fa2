"""ClusterAdapt: learning from pseudo labels on an unlabelled domain (USL, or UDA after or
alongside source training). The strong cluster baseline, UDA_TP, SpCL and Cluster Contrast are
all this loop; they differ only in the strategies they are given.

    restore the latest checkpoint, if any
    for each remaining epoch:
        features <- what the method clusters (encoder features, or a memory's own rows)
        labels   <- cluster(features), then each refiner in turn
        at a correction epoch: labels <- the corrector's refiner for this epoch (GLC), and
            optionally restart what trains from the run's starting weights
        reset everything sized by the labels (memories, classifier heads, samplers)
        for each batch: take one optimisation step
        evaluate when scheduled; checkpoint
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from attrs import define, field, frozen, validators

from reidkit.application.epoch_loop import EpochLoop
from reidkit.domain.ports import (
    FeatureSource,
    LabelConsumer,
    LabelCorrector,
    LabelRefiner,
    LabelScorer,
    PseudoLabeler,
    Restartable,
)
from reidkit.domain.types import PseudoLabels, TrainingProgress

B = TypeVar("B")


def _epochs(_instance: Any, attribute: Any, value: frozenset[int]) -> None:
    if any(isinstance(e, bool) or not isinstance(e, int) or e < 0 for e in value):
        raise ValueError(f"{attribute.name} must be epochs >= 0, got {sorted(value, key=str)}")


@frozen(kw_only=True)
class Correction:
    """Labels corrected at the epochs ``first``, ``first + every``, ... (0-based, as the loop
    counts; GLC: 10, 15, ...) by ``corrector``'s refiner for that epoch; after the correction of
    each epoch in ``restart_epochs`` every one of ``restarts`` restarts (GLC: 15)."""

    corrector: LabelCorrector
    first: int = field(validator=validators.ge(0))
    every: int = field(validator=validators.ge(1))
    restart_epochs: frozenset[int] = field(default=frozenset(), converter=frozenset, validator=_epochs)
    restarts: Sequence[Restartable] = field(default=(), converter=tuple)

    def __attrs_post_init__(self) -> None:
        uncorrected = sorted(e for e in self.restart_epochs if not self.corrects(e))
        if uncorrected:
            raise ValueError(f"restart epochs {uncorrected} are not correction epochs (first {self.first}, every {self.every})")
        if self.restart_epochs and not self.restarts:
            raise ValueError("restart epochs are given but nothing to restart")

    def corrects(self, epoch: int) -> bool:
        return epoch >= self.first and (epoch - self.first) % self.every == 0


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
    corrections: Sequence[Correction] = field(default=(), converter=tuple)

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
        for correction in self.corrections:
            if not correction.corrects(epoch):
                continue
            # the observers see the labels before the correction as well, under "uncorrected_"
            quality = {
                "uncorrected_clusters": labels.num_clusters,
                "uncorrected_outliers": labels.num_outliers,
                **{f"uncorrected_{name}": value for name, value in quality.items() if not name.startswith("uncorrected_")},
            }
            labels = correction.corrector.at_epoch(epoch).refine(features, labels)
            if len(labels) != len(features):
                raise ValueError(f"epoch {epoch}: the correction gave {len(labels)} labels for {len(features)} samples")
            if self.scorer is not None:
                quality.update(self.scorer.score(labels))
            if epoch in correction.restart_epochs:
                for restartable in correction.restarts:
                    restartable.restart()
        self.loop.observer.on_pseudo_labels(epoch, labels, quality)
        for consumer in self.consumers:
            consumer.reset(features, labels)
        return labels

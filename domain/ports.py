"""Ports: what the use-cases need from the outside world, as structural Protocols.

A torch module, a faiss wrapper and a five-line test fake all satisfy these without a shared base
class. Batches stay opaque (``B``): tensors never reach the domain or the application.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol, TypeVar, runtime_checkable

from reidkit.domain.types import (
    EmbeddedSet,
    FeatureMatrix,
    ImageRecord,
    PseudoLabels,
    RetrievalMetrics,
    StepReport,
    TrainingProgress,
)

B = TypeVar("B")
X = TypeVar("X")


@runtime_checkable
class FeatureEncoder(Protocol):
    """Embeds images; row i of the result belongs to ``records[i]``."""

    def encode(self, records: Sequence[ImageRecord]) -> FeatureMatrix: ...


@runtime_checkable
class PseudoLabeler(Protocol):
    """Clusters unlabelled features. Degenerate results are valid labels, never an exception."""

    def assign(self, features: FeatureMatrix) -> PseudoLabels: ...


@runtime_checkable
class FeatureSource(Protocol):
    """What an adaptation method clusters each epoch: encoder features of the unlabelled set, a
    memory's own rows (SpCL), or the mean of two teachers (MMT). Row i is unlabelled sample i."""

    def collect(self) -> FeatureMatrix: ...


@runtime_checkable
class LabelRefiner(Protocol):
    """Corrects pseudo labels after clustering (e.g. a learned link predictor); same length out."""

    def refine(self, features: FeatureMatrix, labels: PseudoLabels) -> PseudoLabels: ...


@runtime_checkable
class LabelCorrector(Protocol):
    """Makes the refiner that corrects one epoch's labels: GLC trains a network afresh at each
    correction, its draws a function of the run's seed and the epoch, so a resumed run corrects
    exactly as an uninterrupted one."""

    def at_epoch(self, epoch: int) -> LabelRefiner: ...


@runtime_checkable
class Restartable(Protocol):
    """What trains, put back where the run started (GLC's restart after a correction: the model
    from its starting weights, the optimiser's state cleared)."""

    def restart(self) -> None: ...


@runtime_checkable
class LabelConsumer(Protocol):
    """Anything sized by this epoch's labels: memories, classifier heads, samplers."""

    def reset(self, features: FeatureMatrix, labels: PseudoLabels) -> None: ...


@runtime_checkable
class LabelScorer(Protocol):
    """Diagnostics of pseudo labels (e.g. against true ids the method never sees for training)."""

    def score(self, labels: PseudoLabels) -> Mapping[str, float]: ...


@runtime_checkable
class MemoryBank(Protocol[B, X]):
    """A feature memory a method trains against (SpCL's hybrid memory, Cluster Contrast's cluster
    centroids), as every user of one sees it: the feature sources fill it and read its rows, the
    epoch resets it from the labels (it is a ``LabelConsumer``), the training step scores each batch
    against it and moves its rows, and the distributed update wraps it. ``X`` is the adapters'
    array type and ``B`` their batch: neither reaches the domain."""

    @property
    def initialized(self) -> bool: ...

    def initialize(self, rows: FeatureMatrix) -> None:
        """Fills the memory with these rows (normalised), each its own class until the next reset."""
        ...

    def reset(self, features: FeatureMatrix, labels: PseudoLabels) -> None: ...

    def snapshot(self) -> FeatureMatrix: ...

    def targets(self, batch: B) -> X:
        """The memory row (or class) each sample of ``batch`` is trained towards."""
        ...

    def loss(self, inputs: X, targets: X) -> X: ...

    def update(self, inputs: X, targets: X) -> None:
        """Moves the targeted rows towards the (detached) inputs; called after the optimiser step."""
        ...


@runtime_checkable
class Translator(Protocol):
    """Renders images in another domain's style, returning records of the written images."""

    def translate(self, records: Sequence[ImageRecord], out_dir: str) -> tuple[ImageRecord, ...]: ...


@runtime_checkable
class TranslatedDataset(Protocol):
    """Where a translator's rendering of a dataset is kept, split by split (``folder`` -> records),
    with a manifest naming the translator that made it (``made_by``: its trained epochs, say), so
    a finished rendering is reused rather than redone, and a stale one is redone."""

    def split_dir(self, folder: str) -> str: ...

    def is_current(self, made_by: str) -> bool: ...

    def publish(self, splits: Mapping[str, Sequence[tuple[ImageRecord, ImageRecord]]], made_by: str) -> None:
        """Records the rendering: each split's (source record, rendered record) pairs."""
        ...


@runtime_checkable
class Evaluator(Protocol):
    """Ranks a gallery for every query and scores the ranking."""

    def evaluate(self, query: EmbeddedSet, gallery: EmbeddedSet) -> RetrievalMetrics: ...


class BatchSource(Protocol[B]):
    """Training batches. ``epoch(e)`` is a pure function of (seed, e), so a resumed run sees the
    same batches as an uninterrupted one; ``len()`` is the exact number of batches per epoch."""

    def __len__(self) -> int: ...

    def epoch(self, epoch: int) -> Iterable[B]: ...


class TrainingStep(Protocol[B]):
    """Owns one optimisation step: forward, losses, backward, optimiser (and its precision)."""

    def begin_epoch(self, epoch: int) -> None: ...

    def run(self, batch: B) -> StepReport: ...


@runtime_checkable
class Checkpointer(Protocol):
    """Saves and restores everything a run needs to continue exactly where it stopped."""

    def save(self, progress: TrainingProgress, *, is_best: bool) -> None: ...

    def restore(self) -> TrainingProgress | None: ...


@runtime_checkable
class TrainingObserver(Protocol):
    """Hears what a run does: logs, progress bars, event files, metric files."""

    def on_run_start(self, *, start_epoch: int, epochs: int, steps_per_epoch: int) -> None: ...

    def on_epoch_start(self, epoch: int) -> None:
        """Before the epoch's own preparation (a method's pseudo-labelling) and its steps."""
        ...

    def on_step(self, epoch: int, step: int, report: StepReport) -> None: ...

    def on_epoch_end(self, epoch: int) -> None: ...

    def on_evaluation(self, epoch: int, name: str, metrics: RetrievalMetrics) -> None: ...

    def on_pseudo_labels(self, epoch: int, labels: PseudoLabels, quality: Mapping[str, float]) -> None: ...

    def on_run_end(self, progress: TrainingProgress) -> None: ...


class Stateful(Protocol):
    """Anything a checkpoint holds (models, optimisers, memories, samplers)."""

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> object: ...



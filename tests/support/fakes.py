"""Recording fakes for the domain ports: they satisfy the Protocols structurally and remember calls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import structlog

from reidkit.domain.ranking import rank_metrics
from reidkit.domain.types import (
    EmbeddedSet,
    FeatureMatrix,
    ImageRecord,
    PseudoLabels,
    RetrievalMetrics,
    StepReport,
    TrainingProgress,
)


_log = structlog.get_logger(__name__)

class Journal:
    """A shared, ordered list of what every fake was asked to do."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def __call__(self, *event: object) -> None:
        self.events.append(event)

    def names(self) -> list[str]:
        return [e[0] for e in self.events]


class FakeBatches:
    def __init__(self, journal: Journal, batches_per_epoch: int = 3) -> None:
        self.journal, self.n = journal, batches_per_epoch

    def __len__(self) -> int:
        return self.n

    def epoch(self, epoch: int) -> list[tuple[int, int]]:
        self.journal("batches", epoch)
        return [(epoch, i) for i in range(self.n)]


class RecordingStep:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.seen: list[tuple[int, int]] = []

    def begin_epoch(self, epoch: int) -> None:
        self.journal("begin_epoch", epoch)

    def run(self, batch: tuple[int, int]) -> StepReport:
        self.seen.append(batch)
        self.journal("step", batch)
        return StepReport(losses={"total": 1.0 / (1 + len(self.seen))}, batch_size=4, lr=0.1)


class MemoryCheckpointer:
    """Keeps checkpoints in a list; ``restore`` returns the last one saved (or a preset one)."""

    def __init__(self, journal: Journal, restored: TrainingProgress | None = None) -> None:
        self.journal = journal
        self.saved: list[tuple[TrainingProgress, bool]] = []
        self._restored = restored

    def save(self, progress: TrainingProgress, *, is_best: bool) -> None:
        self.journal("save", progress.epochs_done, is_best)
        self.saved.append((progress, is_best))

    def restore(self) -> TrainingProgress | None:
        self.journal("restore")
        return self.saved[-1][0] if self.saved else self._restored


class RecordingObserver:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def on_run_start(self, *, start_epoch: int, epochs: int, steps_per_epoch: int) -> None:
        self.journal("run_start", start_epoch, epochs, steps_per_epoch)

    def on_epoch_start(self, epoch: int) -> None:
        self.journal("epoch_start", epoch)

    def on_step(self, epoch: int, step: int, report: StepReport) -> None:
        self.journal("observed_step", epoch, step)

    def on_epoch_end(self, epoch: int) -> None:
        self.journal("epoch_end", epoch)

    def on_evaluation(self, epoch: int, name: str, metrics: RetrievalMetrics) -> None:
        self.journal("evaluation", epoch, name, metrics.mAP)

    def on_pseudo_labels(self, epoch: int, labels: PseudoLabels, quality: Mapping[str, float]) -> None:
        self.journal("pseudo_labels", epoch, labels.num_clusters, dict(quality))

    def on_run_end(self, progress: TrainingProgress) -> None:
        self.journal("run_end", progress.epochs_done)


class LookupEncoder:
    """Encodes a record as a fixed vector per pid (plus a per-camera offset), recording calls."""

    def __init__(self, dim: int = 4, camera_shift: float = 0.0) -> None:
        self.dim, self.shift = dim, camera_shift
        self.calls: list[int] = []

    def encode(self, records: Sequence[ImageRecord]) -> FeatureMatrix:
        self.calls.append(len(records))
        rows = [np.eye(self.dim)[r.pid % self.dim] + self.shift * r.camid for r in records]
        return FeatureMatrix(np.array(rows, dtype=np.float32).reshape(len(records), self.dim))


class ScriptedEvaluator:
    """Returns the given mAP values one after the other, recording the sizes it was shown."""

    def __init__(self, maps: Sequence[float]) -> None:
        self._maps = list(maps)
        self.shown: list[tuple[int, int]] = []

    def evaluate(self, query: EmbeddedSet, gallery: EmbeddedSet) -> RetrievalMetrics:
        self.shown.append((len(query.features), len(gallery.features)))
        value = self._maps.pop(0)
        return RetrievalMetrics(mAP=value, mINP=value, cmc=[value], num_queries=1, num_valid_queries=1)


class ExactEvaluator:
    """Squared-L2 ranking through the real domain maths (no torch)."""

    def evaluate(self, query: EmbeddedSet, gallery: EmbeddedSet) -> RetrievalMetrics:
        q, g = query.features.values, gallery.features.values
        dist = (q**2).sum(1)[:, None] + (g**2).sum(1)[None, :] - 2 * q @ g.T
        return rank_metrics(dist, query.pids, gallery.pids, query.camids, gallery.camids, max_rank=5)


class ScriptedFeatures:
    """A FeatureSource returning the next scripted matrix each epoch (the last one repeats)."""

    def __init__(self, journal: Journal, matrices: Sequence[np.ndarray]) -> None:
        self.journal, self._matrices = journal, [np.asarray(m, dtype=np.float32) for m in matrices]
        self.calls = 0

    def collect(self) -> FeatureMatrix:
        self.journal("features")
        matrix = self._matrices[min(self.calls, len(self._matrices) - 1)]
        self.calls += 1
        return FeatureMatrix(matrix)


class JournalLabeler:
    """A PseudoLabeler that logs its call and delegates to a real (fake) labeler."""

    def __init__(self, journal: Journal, inner: object) -> None:
        self.journal, self.inner = journal, inner

    def assign(self, features: FeatureMatrix) -> PseudoLabels:
        self.journal("cluster", len(features))
        return self.inner.assign(features)


class RecordingConsumer:
    """A LabelConsumer (memory, head or sampler stand-in) remembering what it was reset with."""

    def __init__(self, journal: Journal, name: str) -> None:
        self.journal, self.name = journal, name
        self.resets: list[tuple[int, np.ndarray]] = []

    def reset(self, features: FeatureMatrix, labels: PseudoLabels) -> None:
        self.journal("reset", self.name, labels.num_clusters)
        self.resets.append((len(features), labels.labels.copy()))


class DroppingRefiner:
    """A LabelRefiner that turns the given cluster id into outliers and renumbers the rest."""

    def __init__(self, journal: Journal, cluster: int = 0) -> None:
        self.journal, self.cluster = journal, cluster

    def refine(self, features: FeatureMatrix, labels: PseudoLabels) -> PseudoLabels:
        self.journal("refine", labels.num_clusters)
        values = labels.labels.copy()
        values[values == self.cluster] = -1
        values[values > self.cluster] -= 1
        return PseudoLabels(values)


class RecordingCorrector:
    """A LabelCorrector whose refiner for an epoch journals the epoch, then drops cluster 0."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def at_epoch(self, epoch: int) -> DroppingRefiner:
        self.journal("correct", epoch)
        return DroppingRefiner(self.journal, 0)


class KeepLabels:
    """A LabelCorrector whose refiners change nothing (a GLC profile's run with its labeler swapped)."""

    def at_epoch(self, epoch: int) -> KeepLabels:
        return self

    def refine(self, features: FeatureMatrix, labels: PseudoLabels) -> PseudoLabels:
        return labels


class RecordingRestart:
    """A Restartable that journals each restart."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def restart(self) -> None:
        self.journal("restart")


class CountingScorer:
    def score(self, labels: PseudoLabels) -> Mapping[str, float]:
        return {"clusters": float(labels.num_clusters)}


class TruthLabeler:
    """A PseudoLabeler that labels every sample by its true identity, the first identity's
    samples outliers: deterministic, enough clusters for any batch shape, and it records the size
    of every call. The one truth-labeler fake of the suite."""

    def __init__(self, true_ids: Sequence[int]) -> None:
        _, self.truth = np.unique(np.asarray(true_ids), return_inverse=True)
        self.calls: list[int] = []

    @property
    def num_clusters(self) -> int:
        return int(self.truth.max())

    def assign(self, features: FeatureMatrix) -> PseudoLabels:
        self.calls.append(len(features))
        return PseudoLabels(np.where(self.truth == 0, -1, self.truth - 1))


# A recording fake of the PseudoLabeler port, for tests of whatever consumes pseudo-labels. It is
# a real (if naive) labeler, so that it passes the same contract suite as the production
# strategies: connected components of the pairs closer than ``radius`` (dense pairwise distances:
# tiny inputs only), components smaller than ``min_size`` marked -1. It remembers the features of
# every call and warns on a degenerate result like the real ones do.


class RecordingLabeler:
    def __init__(self, radius: float = 0.5, min_size: int = 2) -> None:
        self.radius, self.min_size = radius, min_size
        self.calls: list[np.ndarray] = []

    def assign(self, features: FeatureMatrix) -> PseudoLabels:
        x = np.asarray(features.values, dtype=np.float64)
        self.calls.append(x.copy())
        n = len(x)
        labels = np.arange(n)
        if n:
            close = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=-1) < self.radius
            # Label propagation to a fixed point: each point takes the smallest label it touches.
            while True:
                spread = np.where(close, labels[None, :], n).min(axis=1)
                if np.array_equal(spread, labels):
                    break
                labels = spread
        sizes = np.bincount(labels, minlength=n)
        labels = np.where(sizes[labels] >= self.min_size, labels, -1)
        kept = np.unique(labels[labels >= 0])
        labels = np.where(labels >= 0, np.searchsorted(kept, labels), -1)
        if int((np.bincount(labels[labels >= 0], minlength=1) >= 2).sum()) < 2:
            _log.warning("degenerate pseudo-labels", labeler="recording_fake", samples=n)
        return PseudoLabels(labels)

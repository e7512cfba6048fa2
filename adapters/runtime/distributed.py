"""Rank-0 decorators: only the main process writes run files (every rank reads them), and only
it clusters and refines the labels (every rank trains on its labels).

Under torchrun each rank runs the same use-case; without these decorators every rank would write
(and prune) the same checkpoint and log files, and cluster the same features for nothing.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch.distributed as dist

from reidkit.adapters.runtime.collectives import ProcessGroup
from reidkit.domain.ports import Checkpointer, LabelCorrector, LabelRefiner, PseudoLabeler
from reidkit.domain.types import FeatureMatrix, PseudoLabels, RetrievalMetrics, StepReport, TrainingProgress


T = TypeVar("T")


def process_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


class MainProcessCheckpointer:
    """Saves on rank 0 only, then waits at a barrier so no rank races ahead of a half-written save;
    every rank restores from the same files."""

    def __init__(self, inner: Checkpointer) -> None:
        self._inner = inner

    def save(self, progress: TrainingProgress, *, is_best: bool) -> None:
        if process_rank() == 0:
            self._inner.save(progress, is_best=is_best)
        if dist.is_available() and dist.is_initialized():
            dist.barrier()

    def restore(self) -> TrainingProgress | None:
        return self._inner.restore()


class MainProcessObserver:
    """Passes events on from rank 0 only (logs, progress bars, event files, metric files)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def _main(self) -> bool:
        return process_rank() == 0

    def on_run_start(self, *, start_epoch: int, epochs: int, steps_per_epoch: int) -> None:
        if self._main():
            self._inner.on_run_start(start_epoch=start_epoch, epochs=epochs, steps_per_epoch=steps_per_epoch)

    def on_epoch_start(self, epoch: int) -> None:
        if self._main():
            self._inner.on_epoch_start(epoch)

    def on_step(self, epoch: int, step: int, report: StepReport) -> None:
        if self._main():
            self._inner.on_step(epoch, step, report)

    def on_epoch_end(self, epoch: int) -> None:
        if self._main():
            self._inner.on_epoch_end(epoch)

    def on_evaluation(self, epoch: int, name: str, metrics: RetrievalMetrics) -> None:
        if self._main():
            self._inner.on_evaluation(epoch, name, metrics)

    def on_pseudo_labels(self, epoch: int, labels: PseudoLabels, quality: Mapping[str, float]) -> None:
        if self._main():
            self._inner.on_pseudo_labels(epoch, labels, quality)

    def on_run_end(self, progress: TrainingProgress) -> None:
        if self._main():
            self._inner.on_run_end(progress)


class RankZeroLabeler:
    """A ``PseudoLabeler`` that clusters on rank 0 and broadcasts the labels, so every rank builds
    its sampler, memory and head from the same labels. Every rank holds the same (all-gathered)
    features, so the other ranks lose nothing by waiting. A failure on rank 0 (too few clusters,
    say) is broadcast too and raised on every rank, rather than leaving them waiting for labels."""

    def __init__(self, inner: PseudoLabeler, group: ProcessGroup) -> None:
        self.inner = inner
        self.group = group

    def assign(self, features: FeatureMatrix) -> PseudoLabels:
        return on_rank_zero(self.group, lambda: self.inner.assign(features))


class RankZeroRefiner:
    """A ``LabelRefiner`` that refines on rank 0 and broadcasts the result (or its failure), as
    ``RankZeroLabeler`` does for the clustering: the other ranks compute no graph. Rank 0 passes
    its features on as they came, so a refiner that reuses its labeler's graph of the same
    features object (``SelfPacedReliability``) still finds it there."""

    def __init__(self, inner: LabelRefiner, group: ProcessGroup) -> None:
        self.inner = inner
        self.group = group

    def refine(self, features: FeatureMatrix, labels: PseudoLabels) -> PseudoLabels:
        return on_rank_zero(self.group, lambda: self.inner.refine(features, labels))


class RankZeroCorrector:
    """A ``LabelCorrector`` whose refiner for each epoch runs on rank 0 and is broadcast
    (``RankZeroRefiner``)."""

    def __init__(self, inner: LabelCorrector, group: ProcessGroup) -> None:
        self.inner = inner
        self.group = group

    def at_epoch(self, epoch: int) -> RankZeroRefiner:
        return RankZeroRefiner(self.inner.at_epoch(epoch), self.group)


def on_rank_zero(group: ProcessGroup, compute: Callable[[], T]) -> T:
    """``compute()`` on rank 0 only, its (picklable) result on every rank; an exception it raises
    is broadcast instead and raised on every rank, so none is left waiting for a result."""
    result, error = None, None
    if group.is_main:
        try:
            result = compute()
        except Exception as exc:  # noqa: BLE001 - re-raised below, on every rank
            error = _picklable(exc)
    result, error = group.broadcast_object((result, error))
    if error is not None:
        raise error
    return result


def _picklable(error: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # noqa: BLE001 - any unpicklable error becomes its one-line message
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


class RankZeroRendering:
    """A ``TranslatedDataset`` that rank 0 renders and publishes while the other ranks wait: each
    rank passes one barrier, after the rendering is current (rank 0 published it, or found it
    current), so that no rank reads the rendered dataset before it is complete."""

    def __init__(self, inner: Any, group: ProcessGroup) -> None:
        self.inner = inner
        self.group = group

    def split_dir(self, folder: str) -> str:
        return self.inner.split_dir(folder)

    def is_current(self, made_by: str) -> bool:
        if self.group.is_main and not self.inner.is_current(made_by):
            return False  # rank 0 renders; its publish passes the barrier
        self.group.barrier()
        return True

    def publish(self, splits: Any, made_by: str) -> None:
        self.inner.publish(splits, made_by)
        self.group.barrier()

"""EpochLoop: the training loop every method shares.

    restore the latest checkpoint, if any
    evaluate the starting model when asked (a fresh run only; recorded as epoch 0, never the best)
    for each remaining epoch:
        prepare the epoch (a method's own per-epoch work, e.g. cluster and relabel)
        for each batch: take one optimisation step; a non-finite loss stops the run (the step
            applied no update; ``max_bad_steps`` such steps per run are skipped instead)
        evaluate when scheduled (and at the end)
        checkpoint (atomically), marking the best score

Methods differ in what ``prepare`` does and in the step; the loop itself is never copied. A run
that diverges stops before its epoch's checkpoint is written, so the latest checkpoint stays the
last one trained with finite losses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from attrs import define, field, frozen, validators

from reidkit.application.evaluate import Evaluate
from reidkit.domain.errors import DivergenceError
from reidkit.domain.ports import BatchSource, Checkpointer, TrainingObserver, TrainingStep
from reidkit.domain.types import RetrievalMetrics, TrainingProgress

B = TypeVar("B")


@frozen
class Schedule:
    """How long to train and how often to evaluate (0 = only after the last epoch); ``eval_start``
    also scores the model a run starts from, so a gain is measured against the run's own start."""

    epochs: int = field(validator=validators.ge(1))
    eval_every: int = field(default=0, validator=validators.ge(0))
    eval_start: bool = False

    def evaluates_after(self, epoch: int) -> bool:
        last = epoch + 1 == self.epochs
        return last or (self.eval_every > 0 and (epoch + 1) % self.eval_every == 0)


@define
class EpochLoop(Generic[B]):
    """``evaluations`` are scored by name; the first one picks the best checkpoint (so model
    selection never needs to look at the other domains' labels). ``run`` returns the progress,
    whose ``last_metrics`` hold the last evaluation of each domain, also when the run was already
    finished and resumed with nothing left to do.

    A step whose report is not ``finite`` (the step applied no update) raises DivergenceError,
    unless fewer than ``max_bad_steps`` such steps came before it in this process: those are
    skipped, and the observers hear of them (``on_step`` with the non-finite report)."""

    batches: BatchSource[B]
    step: TrainingStep[B]
    checkpointer: Checkpointer
    observer: TrainingObserver
    schedule: Schedule
    evaluations: Mapping[str, Evaluate] = field(factory=dict)
    max_bad_steps: int = field(default=0, validator=validators.ge(0))

    def run(self, prepare: Callable[[int], None] | None = None) -> TrainingProgress:
        progress = self.checkpointer.restore() or TrainingProgress()
        self.observer.on_run_start(
            start_epoch=progress.epochs_done, epochs=self.schedule.epochs, steps_per_epoch=len(self.batches)
        )
        if self.schedule.eval_start and progress.epochs_done == 0:
            self._evaluate(-1)  # reported as epoch 0; a score no trained epoch has to beat
        bad_steps = 0
        for epoch in range(progress.epochs_done, self.schedule.epochs):
            self.observer.on_epoch_start(epoch)
            if prepare is not None:
                prepare(epoch)
            self.step.begin_epoch(epoch)
            for index, batch in enumerate(self.batches.epoch(epoch)):
                report = self.step.run(batch)
                if not report.finite:
                    bad_steps += 1
                    if bad_steps > self.max_bad_steps:
                        raise DivergenceError(
                            epoch=epoch,
                            step=index,
                            steps_per_epoch=len(self.batches),
                            losses=report.losses,
                            bad_steps=bad_steps,
                            allowed=self.max_bad_steps,
                            epochs_saved=progress.epochs_done,
                        )
                self.observer.on_step(epoch, index, report)
            self.observer.on_epoch_end(epoch)
            scores = self._evaluate(epoch) if self.schedule.evaluates_after(epoch) else {}
            progress, is_best = _advance(progress, epoch, scores, selects=bool(self.evaluations))
            self.checkpointer.save(progress, is_best=is_best)
        self.observer.on_run_end(progress)
        return progress

    def _evaluate(self, epoch: int) -> dict[str, RetrievalMetrics]:
        scores = {}
        for name, evaluation in self.evaluations.items():
            scores[name] = metrics = evaluation.run()
            self.observer.on_evaluation(epoch, name, metrics)
        return scores


def _advance(
    progress: TrainingProgress, epoch: int, scores: Mapping[str, RetrievalMetrics], *, selects: bool = True
) -> tuple[TrainingProgress, bool]:
    """``selects``: whether any evaluation picks the best model; a run without one (unlabelled
    data) keeps its newest epoch as the best."""
    history = progress.history + tuple((epoch, name, m.mAP) for name, m in scores.items())
    selection = next(iter(scores.values()), None)
    is_best = selection.mAP > progress.best_score if selection is not None else not selects
    best = selection.mAP if is_best and selection is not None else progress.best_score
    advanced = TrainingProgress(epochs_done=epoch + 1, best_score=best, history=history, latest=progress.evaluated(scores))
    return advanced, is_best

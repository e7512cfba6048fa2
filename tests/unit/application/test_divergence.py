"""A step whose loss is not finite stops the epoch loop before that epoch's checkpoint (or is skipped,
up to ``max_bad_steps``): recording fakes, no torch."""

from __future__ import annotations

import math

import pytest

from reidkit.application.supervised_train import Schedule, SupervisedTrain
from reidkit.domain.errors import DivergenceError
from reidkit.domain.types import StepReport
from tests.support.fakes import FakeBatches, Journal, MemoryCheckpointer, RecordingObserver, RecordingStep


class StepFailingAt(RecordingStep):
    """A RecordingStep whose report is non-finite (as a step that skipped its update reports it)
    for the batches in ``bad``."""

    def __init__(self, journal: Journal, bad: set[tuple[int, int]]) -> None:
        super().__init__(journal)
        self.bad = bad

    def run(self, batch: tuple[int, int]) -> StepReport:
        report = super().run(batch)
        if batch not in self.bad:
            return report
        return StepReport(losses={"ce": 2.0, "triplet": math.nan, "total": math.inf}, batch_size=4, lr=0.1, finite=False)


def loop(journal: Journal, bad: set[tuple[int, int]], *, max_bad_steps: int = 0, epochs: int = 3) -> SupervisedTrain:
    return SupervisedTrain(
        batches=FakeBatches(journal, batches_per_epoch=2),
        step=StepFailingAt(journal, bad),
        checkpointer=MemoryCheckpointer(journal),
        observer=RecordingObserver(journal),
        schedule=Schedule(epochs=epochs),
        max_bad_steps=max_bad_steps,
    )


def test_a_non_finite_step_stops_the_run_before_its_epoch_is_saved():
    journal = Journal()
    train = loop(journal, bad={(1, 1)})
    with pytest.raises(DivergenceError) as error:
        train.run()
    assert [e[1] for e in journal.events if e[0] == "save"] == [1]  # epoch 1 saved, epoch 2 never
    assert journal.names()[-1] == "step"  # nothing after the bad step: no observer, no evaluation, no save
    failure = error.value
    assert (failure.epoch, failure.step, failure.epochs_saved) == (1, 1, 1)
    assert list(failure.losses) == ["triplet", "total"]  # the finite ce is not named
    assert math.isnan(failure.losses["triplet"]) and failure.losses["total"] == math.inf
    assert str(failure) == (
        "training diverged at epoch 2, step 2 of 2: non-finite loss (triplet=nan, total=inf); the latest "
        "checkpoint (epoch 1) is kept, the last with finite losses; lower optimizer.lr in a new --work-dir "
        "(a resumed run keeps its schedule), or let train.max_bad_steps skip such steps"
    )
    assert failure.exit_code == 3


def test_a_divergence_in_the_first_epoch_says_no_checkpoint_was_written():
    with pytest.raises(DivergenceError, match=r"at epoch 1, step 1 of 2: .*; no checkpoint was written;"):
        loop(Journal(), bad={(0, 0)}).run()


def test_max_bad_steps_are_skipped_and_observed_then_the_next_one_stops_the_run():
    journal = Journal()
    assert loop(journal, bad={(0, 1), (2, 0)}, max_bad_steps=2).run().epochs_done == 3
    observed = [e for e in journal.events if e[0] == "observed_step"]
    assert len(observed) == 6  # the skipped steps are reported to the observers too

    with pytest.raises(DivergenceError) as error:
        loop(Journal(), bad={(0, 1), (1, 0), (1, 1)}, max_bad_steps=2).run()
    assert (error.value.epoch, error.value.step, error.value.bad_steps) == (1, 1, 3)
    assert "after 2 skipped step(s) (train.max_bad_steps = 2)" in str(error.value)


def test_a_loss_that_is_finite_here_but_not_on_another_rank_is_named_as_such():
    error = DivergenceError(epoch=0, step=3, steps_per_epoch=10, losses={"total": 1.5})
    assert str(error).startswith("training diverged at epoch 1, step 4 of 10: a non-finite loss on another rank; ")

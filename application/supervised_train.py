"""SupervisedTrain: the epoch loop on labelled batches, with nothing to prepare per epoch.

    restore the latest checkpoint, if any
    for each remaining epoch:
        for each batch: take one optimisation step
        evaluate when scheduled (and at the end)
        checkpoint (atomically), marking the best score
"""

from __future__ import annotations

from typing import TypeVar

from attrs import define

from reidkit.application.epoch_loop import EpochLoop, Schedule
from reidkit.domain.types import TrainingProgress

__all__ = ["Schedule", "SupervisedTrain"]

B = TypeVar("B")


@define
class SupervisedTrain(EpochLoop[B]):
    """Trains on labelled batches (see :class:`EpochLoop` for the loop and model selection)."""

    def run(self) -> TrainingProgress:  # type: ignore[override]
        return super().run()

"""Rank-zero decorators: rank 0 writes, other ranks only read."""

from __future__ import annotations

import pytest

from reidkit.adapters.runtime import distributed
from reidkit.adapters.runtime.distributed import MainProcessCheckpointer, MainProcessObserver
from reidkit.domain.types import PseudoLabels, TrainingProgress
from tests.support.fakes import Journal, MemoryCheckpointer, RecordingObserver


@pytest.mark.parametrize(("rank", "writes"), [(0, True), (1, False)])
def test_only_rank_zero_saves_but_every_rank_restores(monkeypatch, rank, writes):
    monkeypatch.setattr(distributed, "process_rank", lambda: rank)
    journal = Journal()
    inner = MemoryCheckpointer(journal, restored=TrainingProgress(epochs_done=3))
    checkpointer = MainProcessCheckpointer(inner)
    checkpointer.save(TrainingProgress(epochs_done=4), is_best=False)
    assert bool(inner.saved) is writes
    assert checkpointer.restore().epochs_done == (4 if writes else 3)


@pytest.mark.parametrize(("rank", "events"), [(0, 6), (1, 0)])
def test_only_rank_zero_observes(monkeypatch, rank, events):
    monkeypatch.setattr(distributed, "process_rank", lambda: rank)
    journal = Journal()
    observer = MainProcessObserver(RecordingObserver(journal))
    observer.on_run_start(start_epoch=0, epochs=1, steps_per_epoch=1)
    observer.on_step(0, 0, None)
    observer.on_epoch_end(0)
    observer.on_evaluation(0, "source", type("M", (), {"mAP": 0.5})())
    observer.on_pseudo_labels(0, PseudoLabels([0, 0, -1]), {})
    observer.on_run_end(TrainingProgress(epochs_done=1))
    assert len(journal.events) == events

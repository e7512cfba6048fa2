"""ClusterAdapt driven by recording fakes: the epoch order of the paper's pseudo-code."""

from __future__ import annotations

import numpy as np
import pytest

from reidkit.application.cluster_adapt import ClusterAdapt, Correction
from reidkit.application.epoch_loop import EpochLoop, Schedule
from reidkit.domain.types import PseudoLabels, TrainingProgress
from tests.support.fakes import (
    CountingScorer,
    DroppingRefiner,
    FakeBatches,
    Journal,
    JournalLabeler,
    MemoryCheckpointer,
    RecordingConsumer,
    RecordingCorrector,
    RecordingObserver,
    RecordingRestart,
    RecordingStep,
    ScriptedFeatures,
)
from tests.support.fakes import RecordingLabeler

# Three tight groups of 3 points, then (epoch 1) two groups of 3 and three scattered points.
GROUPS = np.repeat(np.eye(3, dtype=np.float32), 3, axis=0) * 5
SPLIT = GROUPS.copy()
SPLIT[6:] = np.array([[9, 0, 0], [0, 9, 0], [0, 0, 9]], dtype=np.float32) * 3


def make_adapt(journal, *, epochs=2, refiners=(), restored=None, matrices=(GROUPS, SPLIT), corrections=()):
    loop = EpochLoop(
        batches=FakeBatches(journal, batches_per_epoch=1),
        step=RecordingStep(journal),
        checkpointer=MemoryCheckpointer(journal, restored),
        observer=RecordingObserver(journal),
        schedule=Schedule(epochs=epochs),
    )
    return ClusterAdapt(
        loop=loop,
        features=ScriptedFeatures(journal, matrices),
        labeler=JournalLabeler(journal, RecordingLabeler(radius=1.0, min_size=2)),
        consumers=[RecordingConsumer(journal, "memory"), RecordingConsumer(journal, "sampler")],
        refiners=refiners,
        scorer=CountingScorer(),
        corrections=corrections,
    )


def test_each_epoch_clusters_then_resets_consumers_then_trains_then_checkpoints():
    journal = Journal()
    make_adapt(journal).run()
    assert journal.names() == [
        "restore", "run_start",
        "epoch_start", "features", "cluster", "pseudo_labels", "reset", "reset", "begin_epoch", "batches", "step",
        "observed_step", "epoch_end", "save",
        "epoch_start", "features", "cluster", "pseudo_labels", "reset", "reset", "begin_epoch", "batches", "step",
        "observed_step", "epoch_end", "save",
        "run_end",
    ]  # fmt: skip
    resets = [e for e in journal.events if e[0] == "reset"]
    assert resets == [("reset", "memory", 3), ("reset", "sampler", 3), ("reset", "memory", 2), ("reset", "sampler", 2)]


def test_consumers_see_the_labels_of_the_features_of_their_epoch():
    journal = Journal()
    adapt = make_adapt(journal)
    adapt.run()
    sizes, labels = adapt.consumers[0].resets[1]
    assert sizes == 9
    np.testing.assert_array_equal(labels, [0, 0, 0, 1, 1, 1, -1, -1, -1])


def test_refiners_run_in_order_before_the_consumers_and_the_observer():
    journal = Journal()
    adapt = make_adapt(journal, epochs=1, refiners=[DroppingRefiner(journal, 0), DroppingRefiner(journal, 0)])
    adapt.run()
    assert journal.names()[2:8] == ["epoch_start", "features", "cluster", "refine", "refine", "pseudo_labels"]
    assert ("refine", 3) in journal.events and ("refine", 2) in journal.events
    np.testing.assert_array_equal(adapt.consumers[0].resets[0][1], [-1] * 6 + [0, 0, 0])
    assert ("pseudo_labels", 0, 1, {"clusters": 1.0}) in journal.events


def test_resume_reclusters_with_the_restored_state_and_skips_done_epochs():
    journal = Journal()
    restored = TrainingProgress(epochs_done=1)
    make_adapt(journal, epochs=2, restored=restored).run()
    assert [e[1] for e in journal.events if e[0] == "begin_epoch"] == [1]
    assert journal.names().count("cluster") == 1


def test_a_refiner_that_changes_the_sample_count_is_refused():
    class Truncating:
        def refine(self, features, labels):
            return PseudoLabels(labels.labels[:-1])

    with pytest.raises(ValueError, match="epoch 0: 8 pseudo labels for 9 samples"):
        make_adapt(Journal(), epochs=1, refiners=[Truncating()]).run()


def test_corrections_happen_exactly_at_their_epochs_after_the_refiners_and_before_the_consumers():
    journal = Journal()
    correction = Correction(corrector=RecordingCorrector(journal), first=1, every=2)
    make_adapt(journal, epochs=6, refiners=[DroppingRefiner(journal, 5)], corrections=[correction], matrices=[GROUPS] * 6).run()
    assert [e[1] for e in journal.events if e[0] == "correct"] == [1, 3, 5]
    epoch_1 = journal.names()[journal.names().index("correct") - 3 :][:7]
    assert epoch_1 == ["features", "cluster", "refine", "correct", "refine", "pseudo_labels", "reset"]


def test_the_observers_see_the_label_quality_before_and_after_a_correction():
    journal = Journal()
    correction = Correction(corrector=RecordingCorrector(journal), first=0, every=1)
    make_adapt(journal, epochs=1, corrections=[correction], matrices=[GROUPS]).run()
    (event,) = [e for e in journal.events if e[0] == "pseudo_labels"]
    assert event[3] == {"uncorrected_clusters": 3, "uncorrected_outliers": 0, "clusters": 2.0}


def test_a_restart_follows_the_correction_of_its_epoch_and_precedes_the_consumers():
    journal = Journal()
    correction = Correction(
        corrector=RecordingCorrector(journal), first=0, every=2, restart_epochs=[2], restarts=[RecordingRestart(journal)]
    )
    make_adapt(journal, epochs=4, corrections=[correction], matrices=[GROUPS] * 4).run()
    names = journal.names()
    assert names.count("restart") == 1
    at = names.index("restart")
    assert names[at - 2 : at + 3] == ["correct", "refine", "restart", "pseudo_labels", "reset"]
    assert [e[1] for e in journal.events if e[0] == "begin_epoch"].index(2) == 2
    assert sum(1 for name in names[:at] if name == "begin_epoch") == 2  # epochs 0 and 1 trained before it


def test_a_resumed_run_corrects_the_epochs_it_has_left():
    journal = Journal()
    correction = Correction(corrector=RecordingCorrector(journal), first=0, every=1)
    make_adapt(journal, epochs=3, restored=TrainingProgress(epochs_done=2), corrections=[correction], matrices=[GROUPS]).run()
    assert [e[1] for e in journal.events if e[0] == "correct"] == [2]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"first": 2, "every": 3, "restart_epochs": [4], "restarts": ["x"]}, r"^restart epochs \[4\] are not correction epochs \(first 2, every 3\)$"),
        ({"first": 2, "every": 3, "restart_epochs": [5]}, "^restart epochs are given but nothing to restart$"),
        ({"first": 0, "every": 0}, "'every' must be >= 1"),
        ({"first": 0, "every": 1, "restart_epochs": [-1], "restarts": ["x"]}, r"restart_epochs must be epochs >= 0, got \[-1\]"),
    ],
)
def test_a_correction_schedule_is_validated(settings, message):
    with pytest.raises(ValueError, match=message):
        Correction(corrector=RecordingCorrector(Journal()), **settings)

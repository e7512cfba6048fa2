"""SupervisedTrain and Evaluate driven by recording fakes: no torch, no files."""

from __future__ import annotations

import subprocess
import sys

import pytest

from reidkit.application.evaluate import Evaluate
from reidkit.application.supervised_train import Schedule, SupervisedTrain
from reidkit.domain.types import ImageRecord, TrainingProgress
from tests.support.fakes import (
    ExactEvaluator,
    FakeBatches,
    Journal,
    LookupEncoder,
    MemoryCheckpointer,
    RecordingObserver,
    RecordingStep,
    ScriptedEvaluator,
)

QUERY = [ImageRecord(f"q{i}.jpg", pid=i, camid=0) for i in range(3)]
GALLERY = [ImageRecord(f"g{i}.jpg", pid=i % 3, camid=1) for i in range(6)]


def make_train(journal, *, epochs=3, eval_every=0, maps=(), restored=None):
    encoder = LookupEncoder()
    evaluations = {
        "source": Evaluate(encoder, ScriptedEvaluator(maps), QUERY, GALLERY),
    }
    return SupervisedTrain(
        batches=FakeBatches(journal, batches_per_epoch=2),
        step=RecordingStep(journal),
        checkpointer=MemoryCheckpointer(journal, restored),
        observer=RecordingObserver(journal),
        schedule=Schedule(epochs=epochs, eval_every=eval_every),
        evaluations=evaluations,
    )


def test_epoch_order_is_restore_steps_evaluate_checkpoint():
    journal = Journal()
    progress = make_train(journal, epochs=2, eval_every=1, maps=[0.2, 0.5]).run()

    assert journal.names() == [
        "restore", "run_start",
        "epoch_start", "begin_epoch", "batches", "step", "observed_step", "step", "observed_step", "epoch_end",
        "evaluation", "save",
        "epoch_start", "begin_epoch", "batches", "step", "observed_step", "step", "observed_step", "epoch_end",
        "evaluation", "save",
        "run_end",
    ]  # fmt: skip
    assert (progress.epochs_done, progress.best_score) == (2, 0.5)
    assert progress.history == ((0, "source", 0.2), (1, "source", 0.5))
    assert {name: m.mAP for name, m in progress.last_metrics.items()} == {"source": 0.5}


def test_the_last_metrics_of_each_domain_survive_a_resume_with_nothing_left_to_do():
    journal = Journal()
    finished = make_train(journal, epochs=2, eval_every=1, maps=[0.2, 0.5]).run()
    again = make_train(Journal(), epochs=2, restored=finished).run()  # no evaluation left to run
    assert again.epochs_done == 2
    assert again.last_metrics == finished.last_metrics and again.last_metrics["source"].mAP == 0.5


def test_evaluates_only_when_scheduled_and_after_the_last_epoch():
    journal = Journal()
    make_train(journal, epochs=5, eval_every=2, maps=[0.1, 0.2, 0.3]).run()
    evaluated = [e[1] for e in journal.events if e[0] == "evaluation"]
    assert evaluated == [1, 3, 4]


def test_best_flag_follows_the_first_evaluation_score():
    journal = Journal()
    train = make_train(journal, epochs=3, eval_every=1, maps=[0.4, 0.3, 0.6])
    train.run()
    assert [best for _, best in train.checkpointer.saved] == [True, False, True]


def test_resume_continues_after_the_restored_epoch():
    journal = Journal()
    restored = TrainingProgress(epochs_done=2, best_score=0.4, history=((1, "source", 0.4),))
    train = make_train(journal, epochs=3, maps=[0.3], restored=restored)
    progress = train.run()
    assert [e[1] for e in journal.events if e[0] == "begin_epoch"] == [2]
    assert ("run_start", 2, 3, 2) in journal.events
    assert progress.best_score == 0.4  # 0.3 at the end does not beat the restored best
    assert train.checkpointer.saved[-1] == (progress, False)


def test_finished_run_does_nothing_but_report():
    journal = Journal()
    restored = TrainingProgress(epochs_done=3, best_score=0.4)
    make_train(journal, epochs=3, restored=restored).run()
    assert "step" not in journal.names()


def test_schedule_rejects_zero_epochs():
    with pytest.raises(ValueError, match="epochs"):
        Schedule(epochs=0)


def test_evaluate_embeds_query_and_gallery_and_scores_them():
    encoder = LookupEncoder(dim=4, camera_shift=0.01)
    metrics = Evaluate(encoder, ExactEvaluator(), QUERY, GALLERY).run()
    assert encoder.calls == [3, 6]
    assert metrics.mAP == pytest.approx(1.0)
    assert metrics.rank(1) == 1.0 and metrics.num_valid_queries == 3


def test_evaluate_refuses_an_empty_split():
    with pytest.raises(ValueError, match="0 query"):
        Evaluate(LookupEncoder(), ExactEvaluator(), [], GALLERY)


def test_domain_and_application_import_without_machinery():
    code = (
        "import sys, reidkit.domain.types, reidkit.domain.ports, reidkit.domain.ranking, "
        "reidkit.application.supervised_train, reidkit.application.evaluate, reidkit.application.cluster_adapt; "
        "heavy = {'torch', 'torchvision', 'faiss', 'PIL', 'structlog', 'dependency_injector'} & set(sys.modules); "
        "print(sorted(heavy)); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_any_evaluation_the_newest_epoch_is_the_best():
    journal = Journal()
    train = SupervisedTrain(
        batches=FakeBatches(journal, batches_per_epoch=1),
        step=RecordingStep(journal),
        checkpointer=MemoryCheckpointer(journal, None),
        observer=RecordingObserver(journal),
        schedule=Schedule(epochs=3, eval_every=1),
        evaluations={},
    )
    progress = train.run()
    assert [best for _, best in train.checkpointer.saved] == [True, True, True]
    assert progress.history == () and progress.last_metrics == {}


def make_start_scored(journal, *, epochs=2, maps=(), restored=None):
    return SupervisedTrain(
        batches=FakeBatches(journal, batches_per_epoch=1),
        step=RecordingStep(journal),
        checkpointer=MemoryCheckpointer(journal, restored),
        observer=RecordingObserver(journal),
        schedule=Schedule(epochs=epochs, eval_every=1, eval_start=True),
        evaluations={"source": Evaluate(LookupEncoder(), ScriptedEvaluator(maps), QUERY, GALLERY)},
    )


def test_eval_start_scores_the_starting_model_before_the_first_epoch_as_epoch_0():
    journal = Journal()
    train = make_start_scored(journal, maps=[0.9, 0.2, 0.5])
    progress = train.run()
    names = journal.names()
    assert names.index("evaluation") < names.index("epoch_start")
    assert [e[1] for e in journal.events if e[0] == "evaluation"] == [-1, 0, 1]  # observers add 1
    # the start is recorded, not a trained epoch: it enters no history and is never the best
    assert progress.history == ((0, "source", 0.2), (1, "source", 0.5))
    assert progress.best_score == 0.5 and [best for _, best in train.checkpointer.saved] == [True, True]


def test_eval_start_is_not_repeated_by_a_resumed_run():
    journal = Journal()
    restored = TrainingProgress(epochs_done=1, best_score=0.2, history=((0, "source", 0.2),))
    make_start_scored(journal, maps=[0.5], restored=restored).run()
    assert [e[1] for e in journal.events if e[0] == "evaluation"] == [1]

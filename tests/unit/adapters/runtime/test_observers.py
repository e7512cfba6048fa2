"""Observers record pseudo-label statistics: in metrics.json (kept across a resume) and the log."""

from __future__ import annotations

import json
import math

from reidkit.adapters.runtime.observers import LoggingObserver, MetricsFileObserver, label_summary
from reidkit.domain.types import PseudoLabels, RetrievalMetrics, StepReport

METRICS = RetrievalMetrics(mAP=0.5, mINP=0.1, cmc=[0.6], num_queries=2, num_valid_queries=2)


def test_label_summary_counts_clusters_outliers_and_rounds_quality():
    summary = label_summary(PseudoLabels([0, 0, 1, 1, -1]), {"ari": 0.123456})
    assert summary == {"clusters": 2, "outliers": 1, "samples": 5, "ari": 0.1235}


def test_metrics_file_keeps_pseudo_labels_of_done_epochs_on_resume(tmp_path):
    first = MetricsFileObserver(tmp_path)
    first.on_run_start(start_epoch=0, epochs=3, steps_per_epoch=1)
    for epoch in range(2):
        first.on_pseudo_labels(epoch, PseudoLabels([0, 0, -1]), {"precision": 1.0})
        first.on_evaluation(epoch, "target", METRICS)
    # Resumed with one epoch done: the second epoch's entries are dropped, then recorded again.
    second = MetricsFileObserver(tmp_path)
    second.on_run_start(start_epoch=1, epochs=3, steps_per_epoch=1)
    second.on_pseudo_labels(1, PseudoLabels([0, 1, -1]), {"precision": 0.5})
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert [(e["epoch"], e["clusters"]) for e in saved["pseudo_labels"]] == [(1, 1), (2, 2)]
    assert [e["epoch"] for e in saved["evaluations"]] == [1]


def test_metrics_file_keeps_the_start_score_on_resume_and_drops_it_on_a_restart_from_nothing(tmp_path):
    first = MetricsFileObserver(tmp_path)
    first.on_run_start(start_epoch=0, epochs=3, steps_per_epoch=1)
    first.on_evaluation(-1, "target", METRICS)  # train.eval_start: the starting model, as epoch 0
    first.on_evaluation(0, "target", METRICS)
    resumed = MetricsFileObserver(tmp_path)
    resumed.on_run_start(start_epoch=1, epochs=3, steps_per_epoch=1)
    resumed.on_evaluation(1, "target", METRICS)
    assert [e["epoch"] for e in json.loads((tmp_path / "metrics.json").read_text())["evaluations"]] == [0, 1, 2]
    # killed before its first checkpoint, a run starts from nothing and scores its start again
    restarted = MetricsFileObserver(tmp_path)
    restarted.on_run_start(start_epoch=0, epochs=3, steps_per_epoch=1)
    restarted.on_evaluation(-1, "target", METRICS)
    assert [e["epoch"] for e in json.loads((tmp_path / "metrics.json").read_text())["evaluations"]] == [0]


def test_logging_observer_logs_one_line_per_epoch_of_labels():
    lines = []

    class Logger:
        def info(self, event, **fields):
            lines.append((event, fields))

    LoggingObserver(logger=Logger()).on_pseudo_labels(4, PseudoLabels([0, 0, 1, -1]), {"ari": 0.5})
    assert lines == [("pseudo labels", {"epoch": 5, "clusters": 2, "outliers": 1, "samples": 4, "ari": 0.5})]


class _Lines:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict]] = []

    def info(self, event, **fields):
        self.lines.append(("info", event, fields))

    def warning(self, event, **fields):
        self.lines.append(("warning", event, fields))


def test_a_skipped_step_is_a_warning_with_its_losses_whatever_log_every_says():
    log = _Lines()
    observer = LoggingObserver(log_every=100, logger=log)
    observer.on_run_start(start_epoch=0, epochs=2, steps_per_epoch=50)
    observer.on_step(1, 6, StepReport(losses={"ce": 2.0, "total": float("nan")}, batch_size=8, finite=False))
    observer.on_step(1, 7, StepReport(losses={"ce": 2.0, "total": 2.0}, batch_size=8))  # not a logged step
    (level, event, fields), = log.lines[1:]
    assert (level, event) == ("warning", "non-finite loss: step skipped")
    assert (fields["epoch"], fields["step"], fields["ce"], math.isnan(fields["total"])) == (2, 7, 2.0, True)


def test_a_run_folder_already_past_the_epochs_asked_for_says_so():
    log = _Lines()
    LoggingObserver(logger=log).on_run_start(start_epoch=5, epochs=3, steps_per_epoch=10)
    assert log.lines == [
        (
            "warning",
            "nothing to train: the run folder's latest checkpoint is already past train.epochs (5 epochs done, 3 "
            "asked for); the run's last evaluation is reported as it is (a shorter run needs another --work-dir)",
            {"epochs_done": 5, "epochs": 3},
        )
    ]
    finished = _Lines()
    LoggingObserver(logger=finished).on_run_start(start_epoch=3, epochs=3, steps_per_epoch=10)
    assert finished.lines == [("info", "already finished: nothing to train", {"epochs_done": 3, "epochs": 3})]

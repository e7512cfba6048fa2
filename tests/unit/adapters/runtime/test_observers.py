"""Observers record pseudo-label statistics: in metrics.json (kept across a resume) and the log."""

from __future__ import annotations

import json

from reidkit.adapters.runtime.observers import LoggingObserver, MetricsFileObserver, label_summary
from reidkit.domain.types import PseudoLabels, RetrievalMetrics

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


def test_logging_observer_logs_one_line_per_epoch_of_labels():
    lines = []

    class Logger:
        def info(self, event, **fields):
            lines.append((event, fields))

    LoggingObserver(logger=Logger()).on_pseudo_labels(4, PseudoLabels([0, 0, 1, -1]), {"ari": 0.5})
    assert lines == [("pseudo labels", {"epoch": 5, "clusters": 2, "outliers": 1, "samples": 4, "ari": 0.5})]

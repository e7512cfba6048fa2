"""GLC's correction in a whole run on the tiny preset: corrections at their epochs, the restart,
and a run interrupted after its first checkpoint that resumes to exactly the uninterrupted result
across corrected and restarted epochs."""

from __future__ import annotations

import json

import pytest

from reidkit.entrypoints.cli import main
from tests.e2e.test_cli import _adaptas_sets, interrupt_after_the_first_save
from tests.support.tiny import GLC_OVERRIDES

# k-means gives 8 clusters of the 64 target images whatever the features (GLC_OVERRIDES: the rest)


@pytest.mark.slow
def test_a_glc_run_resumes_across_corrected_and_restarted_epochs_to_the_uninterrupted_result(tiny_data, tmp_path, capsys):
    full, split = tmp_path / "full", tmp_path / "split"
    base = ["adapt", "--profile", "glc_cluster_contrast_uda", *_adaptas_sets(tiny_data, "train.epochs=3", "adapt.start_from='scratch'", *GLC_OVERRIDES)]
    assert main([*base, "--work-dir", str(full)]) == 0
    assert main([*base, "--work-dir", str(split)], hook=interrupt_after_the_first_save) == 130
    assert main([*base, "--work-dir", str(split)]) == 0
    full_saved = json.loads((full / "metrics.json").read_text())
    assert json.loads((split / "metrics.json").read_text()) == full_saved
    labels = full_saved["pseudo_labels"]
    assert [("uncorrected_clusters" in e) for e in labels] == [False, True, True]  # epochs 2 and 3 corrected
    assert all(e["clusters"] >= 4 for e in labels)
    log = [json.loads(line) for line in (full / "log.jsonl").read_text().splitlines()]
    assert sum(e["event"] == "restarted from the starting weights" for e in log) == 1

"""Video re-ID end to end: the video profile on the tiny_video preset trains on tracklets (P x K
tracklets of seq_len frames, each frame an image of its tracklet's pid), evaluates with pooled
tracklet features, and `reidkit evaluate --run` / `extract` on the run give the same scores."""

from __future__ import annotations

import json

import numpy as np
import pytest

from reidkit.entrypoints.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("video")
    folder = base / "run"
    sets = ["--set", f"data.cache_dir='{base / 'data'}'", "--set", "runtime.threads=1", "--set", "train.log_every=1"]
    assert main(["train", "--profile", "video_baseline", "--work-dir", str(folder), "--quiet", *sets]) == 0
    return folder


def _last(run_dir) -> dict:
    evaluations = json.loads((run_dir / "metrics.json").read_text())["evaluations"]
    return max(evaluations, key=lambda e: e["epoch"])


def test_the_video_profile_trains_on_frames_of_tracklets_and_scores_every_query(run_dir):
    profile = (run_dir / "profile.toml").read_text()
    assert 'preset = "tiny_video"' in profile and "seq_len = 4" in profile
    steps = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    steps = [s for s in steps if s.get("event") == "step"]
    assert len(steps) == 4 and all(np.isfinite(s["total"]) for s in steps)
    last = _last(run_dir)
    assert last["domain"] == "source" and last["num_valid_queries"] == 6  # one query tracklet per test identity


def test_evaluate_and_extract_on_the_run_pool_tracklets_as_its_evaluation_did(run_dir, tmp_path, capsys):
    expected = _last(run_dir)
    scores = tmp_path / "scores.json"
    assert main(["evaluate", "--run", str(run_dir), "--json", str(scores)]) == 0
    got = json.loads(scores.read_text())["domains"]["source"]
    assert (got["mAP"], got["mINP"], got["cmc"]) == (expected["mAP"], expected["mINP"], expected["cmc"])
    features = tmp_path / "source.npz"
    assert main(["extract", "--run", str(run_dir), "--out", str(features)]) == 0
    assert "6 query and 11 gallery tracklets" in capsys.readouterr().out
    again = tmp_path / "again.json"
    assert main(["evaluate", "--features", str(features), "--json", str(again)]) == 0
    assert json.loads(again.read_text())["cmc"] == expected["cmc"]

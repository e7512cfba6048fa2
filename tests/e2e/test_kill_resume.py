"""SIGKILL at random moments, then resume: tools/kill_resume.py sized for CI, one trial of two
kills per scenario (supervised, SpCL UDA, MMT UDA, the last two with their pre-training stages,
and an SPGAN translation with its rendering), about 85 s of CPU. `.venv/bin/python tools/kill_resume.py` is the full check: 4 trials per
scenario, 3 kills each (about 4 minutes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "kill_resume.py"


@pytest.mark.slow
def test_runs_killed_at_random_moments_resume_to_exactly_the_uninterrupted_result(tiny_data, tmp_path):
    report = tmp_path / "trials.json"
    command = [sys.executable, str(SCRIPT), "--scenarios", "supervised,spcl,mmt,translate", "--trials", "1", "--kills", "2",
               "--seed", "1", "--data-dir", str(tiny_data), "--json", str(report)]  # fmt: skip
    # A fresh interpreter: the script forks its runs, which must not inherit this process's threads.
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    trials = json.loads(report.read_text())
    assert [t["scenario"] for t in trials] == ["supervised", "spcl", "mmt", "translate"]
    for trial in trials:
        assert trial["problems"] == [], trial
        # A kill misses only when its run ends first (the delay runs past the process's exit).
        assert len(trial["kills"]) + trial["missed"] == 2 and trial["kills"], trial
        assert trial["runs"] == len(trial["kills"]) + 1  # each killed run, then the one that finished
    # Eight kills (seed 1's order of kinds) cover every kind of moment: restore, pseudo-labelling,
    # step, evaluation, saving, and the translation's rendering.
    kinds = {target["kind"] for trial in trials for target in trial["targets"]}
    assert kinds == {"restore", "prepare", "step", "evaluate", "checkpoint", "render"}


def test_the_harness_notices_different_results_and_unverifiable_checkpoints(tmp_path):
    from tools import kill_resume

    runs = tmp_path / "runs"
    (runs / "checkpoints").mkdir(parents=True)
    (runs / "metrics.json").write_text(json.dumps({"evaluations": [{"epoch": 1, "mAP": 0.5}]}))
    (runs / "checkpoints" / "latest").write_text("epoch_0001.pt\n")
    runner = _FakeRunner()
    reference = kill_resume.final_state(runner, runs)
    (runs / "metrics.json").write_text(json.dumps({"evaluations": [{"epoch": 1, "mAP": 0.5000001}]}))
    assert kill_resume.final_state(runner, runs) != reference

    (runs / "checkpoints" / "epoch_0001.pt").write_bytes(b"data")
    (runs / "checkpoints" / "epoch_0001.pt.sha256").write_text("0" * 64 + "  epoch_0001.pt\n")
    (runs / "checkpoints" / "best.pt").write_bytes(b"best")
    (runs / "translated").mkdir()
    (runs / "translated" / "0001_c1s1_000000_00.jpg").write_bytes(b"rendered")
    reference = kill_resume.final_state(runner, runs)
    (runs / "translated" / "0001_c1s1_000000_00.jpg").write_bytes(b"rendered again")
    assert kill_resume.final_state(runner, runs) != reference

    problems = kill_resume.ChecksumCache().problems(runs)
    folder = runs / "checkpoints"
    assert problems == [f"{folder / 'best.pt'} has no checksum", f"{folder / 'epoch_0001.pt'} fails its checksum"]


class _FakeRunner:
    def call(self, function, path):
        return f"digest of {path.name}"

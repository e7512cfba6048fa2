"""``--quiet``: a run's stderr holds no progress bar and no info line, only warnings and errors;
without it, info lines (and, on a terminal, bars) appear. log.jsonl is the same either way."""

from __future__ import annotations

import json
import re
import sys

import pytest

from reidkit.entrypoints.cli import main
from tests.support.tiny import as_sets, tiny_overrides


def _train(tiny_data, run_dir, capsys, monkeypatch, *flags: str) -> str:
    # stderr as a terminal: tqdm (disable=None) would draw its bars
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    capsys.readouterr()
    settings = tiny_overrides(tiny_data, "eval.domains=['source']")
    assert main(["train", "--profile", "strong_baseline", "--work-dir", str(run_dir), *as_sets(settings), *flags]) == 0
    return re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().err)  # a terminal's colours


def _events(run_dir) -> list[str]:
    return [json.loads(line)["event"] for line in (run_dir / "log.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_quiet_silences_bars_and_info_lines_but_not_the_run_log(tiny_data, tmp_path, capsys, monkeypatch):
    loud = _train(tiny_data, tmp_path / "loud", capsys, monkeypatch)
    assert "runtime" in loud and "[info" in loud
    assert "epoch 1/2" in loud  # the epoch's bar

    quiet = _train(tiny_data, tmp_path / "quiet", capsys, monkeypatch, "--quiet")
    assert "[info" not in quiet and "runtime" not in quiet
    assert "epoch 1/2" not in quiet and "features" not in quiet and "it/s" not in quiet
    assert _events(tmp_path / "quiet") == _events(tmp_path / "loud")

"""structlog set-up: JSON lines for the run file, and no stale stream after the run or a capture."""

from __future__ import annotations

import io
import json
import sys

import structlog

from reidkit.adapters.runtime.logging import configure_logging


def test_events_go_to_the_json_file_and_later_ones_survive_its_closing(tmp_path, monkeypatch):
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    stream = configure_logging(tmp_path / "log.jsonl")
    structlog.get_logger("t").info("inside", value=1)
    stream.close()
    first.close()  # the stream that was stderr when logging was configured goes away too

    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    structlog.get_logger("t").info("after")

    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [(e["event"], e.get("value")) for e in lines] == [("inside", 1)]
    assert "after" in second.getvalue()


def test_other_ranks_write_no_file_and_tag_their_lines(tmp_path, monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    assert configure_logging(tmp_path / "log.jsonl", rank=1) is None
    structlog.get_logger("t").info("hello")
    assert not (tmp_path / "log.jsonl").exists()
    assert "rank=1" in out.getvalue()

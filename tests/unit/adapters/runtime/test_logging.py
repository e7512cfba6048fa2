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


def test_a_console_level_hides_lesser_events_from_the_console_only(tmp_path, monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    stream = configure_logging(tmp_path / "log.jsonl", console_level="warning")
    log = structlog.get_logger("t")
    log.info("chatter")
    log.warning("careful")
    log.error("broken")
    stream.close()
    assert "chatter" not in out.getvalue()
    assert "careful" in out.getvalue() and "broken" in out.getvalue()
    events = [json.loads(line)["event"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert events == ["chatter", "careful", "broken"]  # the run's file keeps everything

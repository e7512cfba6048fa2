import json

from tools import adapt_results


def _log(run_dir, *lines):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "log.jsonl").write_text("".join(line + "\n" for line in lines))


def _event(event, clock):
    return json.dumps({"event": event, "level": "info", "timestamp": f"2026-12-04T{clock}"})


def test_a_resumed_run_counts_the_time_of_every_process(tmp_path):
    run_dir = tmp_path / "run"
    _log(
        run_dir,
        _event("runtime", "16:00:00"),
        _event("step", "16:30:00"),
        '{"event": "step", "timest',  # the killed process's last line, cut short
        _event("runtime", "17:00:00"),  # the resumed process: the gap between the two is not run time
        _event("step", "17:10:00"),
        _event("training finished", "17:15:30"),
    )
    assert adapt_results.logged_seconds(run_dir) == 30 * 60 + 15 * 60 + 30


def test_a_run_that_never_logged_has_no_earlier_time(tmp_path):
    assert adapt_results.logged_seconds(tmp_path / "fresh") == 0.0


def test_run_adds_the_killed_processes_time_to_its_own_and_keeps_their_output(tmp_path, monkeypatch):
    run_dir, text_log = tmp_path / "run", tmp_path / "run.log"
    _log(run_dir, _event("runtime", "16:00:00"), _event("step", "16:20:00"))
    text_log.write_text("Traceback of the killed process\n")
    monkeypatch.setattr(adapt_results.subprocess, "call", lambda *args, **kwargs: 0)
    took = adapt_results.run(["adapt"], text_log, run_dir, [])
    assert 1200 <= took < 1260
    assert json.loads((run_dir / "took.json").read_text())["seconds"] == took
    assert text_log.read_text().startswith("Traceback of the killed process")

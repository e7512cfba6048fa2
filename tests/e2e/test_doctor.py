"""reidkit doctor: the environment report alone, the collectives under torchrun, start-up errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reidkit.entrypoints.cli import main

LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
BIN = Path(sys.executable).parent


@pytest.fixture
def single_process(monkeypatch):
    for name in LAUNCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def test_single_process_reports_the_environment_and_how_to_check_collectives(single_process, capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert f"torch        {torch.__version__}" in out
    assert "faiss        " in out and "GPU support: " in out
    assert ("not available" in out) != torch.cuda.is_available()
    assert "launch       rank 0 of 1, device " in out
    assert "single process: collectives not checked; run `torchrun --standalone --nproc-per-node N" in out


def test_json_report(single_process, capsys):
    assert main(["doctor", "--json", "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and "collectives" not in report
    assert report["environment"]["torch"] == torch.__version__
    assert report["environment"]["cpu"]["usable_cores"] >= 1
    assert report["launch"] == {
        "rank": 0, "world_size": 1, "local_rank": 0, "backend": None, "device": "cpu",
        "master_addr": None, "master_port": None,
    }  # fmt: skip


def test_bad_sizes_are_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["doctor", "--sizes", "1KB,2XB"])
    assert caught.value.code == 2
    assert "'2XB' is not a size of at least 4 bytes like 1KB, 1MB or 16MB" in capsys.readouterr().err


def test_a_rendezvous_nobody_joins_is_one_line(monkeypatch, capsys):
    port = _free_port()
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", port)
    assert main(["doctor", "--device", "cpu", "--timeout", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(
        f"reidkit: could not start the gloo process group as rank 0 of 2 (MASTER_ADDR=127.0.0.1 MASTER_PORT={port}): "
    )
    assert "1/2 clients joined" in err and "(1 s)" in err


def test_bad_launch_variables_are_one_line(monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "two")
    assert main(["doctor"]) == 2
    assert capsys.readouterr().err == "reidkit: WORLD_SIZE='two' is not an integer (set by torchrun)\n"


@pytest.mark.slow
def test_two_gloo_ranks_pass_every_check_and_report_timings():
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARIABLES}
    command = [
        str(BIN / "torchrun"), "--standalone", "--nproc-per-node", "2", "--no-python", str(BIN / "reidkit"),
        "doctor", "--device", "cpu", "--sizes", "1KB,1MB", "--repeats", "2", "--json",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)  # rank 0 alone prints
    assert report["ok"] is True and report["launch"]["world_size"] == 2 and report["launch"]["backend"] == "gloo"
    assert [r["rank"] for r in report["ranks"]] == [0, 1] and len({r["pid"] for r in report["ranks"]}) == 2
    checks = {(c["collective"], c["size_bytes"]): c for c in report["collectives"]}
    assert set(checks) == {(c, s) for c in ("all_reduce", "all_gather", "broadcast") for s in (1 << 10, 1 << 20)}
    for check in checks.values():
        assert check["ok"] and check["failed_ranks"] == [] and check["world_size"] == 2
        assert 0 < check["seconds_min"] <= check["seconds_median"] <= check["seconds_max"]
        assert check["bus_gbps"] > 0

"""Launch parsing, NCCL hardening, the process group's start-up errors and collective-failure lines."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from reidkit.adapters.runtime.process_group import (
    Peer,
    is_collective_timeout,
    stop_stalled_peers,
    Launch,
    ProcessGroupError,
    backend_for,
    collective_failure_message,
    first_line,
    harden_nccl,
    process_group,
    rank_device,
)
from reidkit.domain.errors import ReidkitError


def test_launch_reads_torchrun_variables_and_defaults_to_one_process():
    assert Launch.from_environ({}) == Launch(rank=0, world_size=1)
    assert not Launch.from_environ({}).distributed
    launch = Launch.from_environ(
        {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "node0", "MASTER_PORT": "29500"}
    )
    assert (launch.rank, launch.world_size, launch.local_rank, launch.distributed) == (3, 4, 1, True)
    assert launch.endpoint == "MASTER_ADDR=node0 MASTER_PORT=29500"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WORLD_SIZE": "two"}, r"^WORLD_SIZE='two' is not an integer"),
        ({"RANK": "-1", "WORLD_SIZE": "2"}, r"^RANK=-1 must be >= 0$"),
        ({"WORLD_SIZE": "0"}, r"^WORLD_SIZE=0"),
        ({"RANK": "2", "WORLD_SIZE": "2"}, r"^RANK=2 is not below WORLD_SIZE=2$"),
    ],
)
def test_bad_launch_variables_are_one_line_errors(env, message):
    with pytest.raises(ProcessGroupError, match=message) as caught:
        Launch.from_environ(env)
    assert isinstance(caught.value, ReidkitError) and "\n" not in str(caught.value)


def test_backend_follows_the_device():
    assert backend_for(torch.device("cpu")) == "gloo"
    assert backend_for(torch.device("cuda", 1)) == "nccl"


def test_each_rank_takes_the_gpu_of_its_local_rank_and_too_many_ranks_are_one_line(monkeypatch):
    two_ranks = Launch(rank=1, world_size=2, local_rank=1)
    assert rank_device(two_ranks, torch.device("cpu")) == torch.device("cpu")
    assert rank_device(Launch(rank=0, world_size=1), torch.device("cuda", 0)) == torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ProcessGroupError, match=r"^LOCAL_RANK=1 has no GPU: 1 visible on this node; start at most 1"):
        rank_device(two_ranks, torch.device("cuda", 0))


def test_harden_nccl_sets_async_error_handling_but_keeps_the_users_choice():
    env: dict[str, str] = {}
    assert harden_nccl(env) == {"TORCH_NCCL_ASYNC_ERROR_HANDLING": "1"}
    assert env == {"TORCH_NCCL_ASYNC_ERROR_HANDLING": "1"}
    mine = {"TORCH_NCCL_ASYNC_ERROR_HANDLING": "3"}
    assert harden_nccl(mine) == {} and mine == {"TORCH_NCCL_ASYNC_ERROR_HANDLING": "3"}


def test_one_process_starts_no_group():
    with process_group(Launch(rank=0, world_size=1), "gloo", timeout_s=1.0) as started:
        assert started is False
        assert not dist.is_initialized()


def _free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def test_a_missing_master_address_is_one_line_naming_what_to_check(monkeypatch):
    for name in ("MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ProcessGroupError) as caught:
        with process_group(Launch(rank=1, world_size=2), "gloo", timeout_s=5.0):
            pass
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("could not start the gloo process group as rank 1 of 2 (MASTER_ADDR=(unset)")
    assert "MASTER_ADDR" in message and "WORLD_SIZE" in message and "runtime.collective_timeout_s (5 s)" in message
    assert not dist.is_initialized()


def test_ranks_that_never_join_fail_the_rendezvous_after_the_timeout(monkeypatch):
    port = _free_port()
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", port)
    launch = Launch(rank=0, world_size=2, master_addr="127.0.0.1", master_port=port)
    with pytest.raises(ProcessGroupError, match=r"1/2 clients joined; check that every rank") as caught:
        with process_group(launch, "gloo", timeout_s=1.0):
            pass
    assert f"MASTER_ADDR=127.0.0.1 MASTER_PORT={port}" in str(caught.value)
    assert not dist.is_initialized()


def test_timeout_must_be_positive():
    with pytest.raises(ValueError, match="timeout"):
        with process_group(Launch(rank=0, world_size=2), "gloo", timeout_s=0):
            pass


def test_first_line_drops_gloos_source_location_and_advice():
    err = RuntimeError(
        "[/__w/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:537] Read error [127.0.0.1]:27546: "
        "Connection reset by peer. This is typically caused by a remote worker hanging. GLHF!\nmore"
    )
    assert first_line(err) == "Read error [127.0.0.1]:27546: Connection reset by peer"


def test_collective_failures_become_one_line_and_other_errors_do_not():
    reset = RuntimeError("[../gloo/transport/tcp/pair.cc:537] Read error [::1]:1: Connection reset by peer. GLHF")
    line = collective_failure_message(reset, rank=0, world_size=2)
    assert line.startswith("rank 0 of 2: a collective failed: Read error [::1]:1: Connection reset by peer;")
    assert "died or exited early" in line and "\n" not in line
    hung = RuntimeError("[../gloo/transport/tcp/unbound_buffer.cc:78] Timed out waiting 10000ms for recv operation")
    assert "longer than runtime.collective_timeout_s" in collective_failure_message(hung, rank=1, world_size=2)
    nccl = dist.DistBackendError("NCCL error in: ProcessGroupNCCL.cpp:1, remote process exited")
    assert collective_failure_message(nccl, rank=1, world_size=4).startswith("rank 1 of 4: a collective failed: NCCL")
    assert collective_failure_message(RuntimeError("shape mismatch"), rank=0, world_size=2) is None
    assert collective_failure_message(ValueError("Connection reset by peer"), rank=0, world_size=2) is None


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_rank_that_timed_out_stops_its_launchers_hung_ranks_but_nothing_else():
    """This test process plays the launcher: ranks 1 and 2 are its children (siblings of the
    reporting rank 0), rank 3 is a process on another host; only the siblings still running after
    the grace period are stopped."""
    host, launcher = socket.gethostname(), os.getpid()
    hung, exited, elsewhere = _sleeper(), subprocess.Popen([sys.executable, "-c", "pass"]), _sleeper()
    try:
        exited.wait(timeout=30)
        peers = (
            Peer(rank=0, host=host, pid=123456789, parent=launcher),
            Peer(rank=1, host=host, pid=hung.pid, parent=launcher),
            Peer(rank=2, host=host, pid=exited.pid, parent=launcher),
            Peer(rank=3, host="another-host", pid=elsewhere.pid, parent=launcher),
        )
        started = time.monotonic()
        assert stop_stalled_peers(peers, rank=0, grace_s=0.5) == (1,)
        assert time.monotonic() - started < 5
        assert hung.wait(timeout=10) == -signal.SIGKILL
        assert elsewhere.poll() is None
    finally:
        for process in (hung, elsewhere):
            process.kill()
            process.wait()


def test_a_peer_of_another_launcher_is_never_stopped():
    other = _sleeper()
    try:
        peers = (Peer(rank=0, host=socket.gethostname(), pid=os.getpid(), parent=os.getppid()),
                 Peer(rank=1, host=socket.gethostname(), pid=other.pid, parent=os.getppid()))  # fmt: skip
        # rank 1 claims our parent as its launcher, but /proc shows it is our child: never touched
        assert stop_stalled_peers(peers, rank=0, grace_s=0.2) == ()
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_only_a_timed_out_collective_counts_as_a_hung_peer():
    assert is_collective_timeout(RuntimeError("[../gloo/transport/tcp/pair.cc:534] Timed out waiting 4000ms for recv operation to complete"))
    assert not is_collective_timeout(RuntimeError("[../gloo/transport/tcp/pair.cc:534] Connection reset by peer"))
    assert not is_collective_timeout(ValueError("Timed out waiting 4000ms"))  # not a collective

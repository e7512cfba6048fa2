"""A rank that dies or hangs mid-run fails the job within the collective timeout, with one clear line.

Two gloo ranks run ``reidkit doctor --soak`` (all-reduce after all-reduce); once rank 0 says the
soak began, rank 1 is killed (SIGKILL) or frozen (SIGSTOP). Every wait has a timeout, so a hang
fails the test instead of stalling CI.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.tiny import as_sets, tiny_overrides

BIN = Path(sys.executable).parent
LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
START_S = 240  # start-up on a busy 2-core machine (imports, rendezvous, the checks)
SOAK = ["doctor", "--device", "cpu", "--sizes", "1KB", "--repeats", "1", "--soak", "600"]

pytestmark = pytest.mark.slow


def _free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARIABLES}
    env["OMP_NUM_THREADS"] = "1"
    return env


class _Lines:
    """Reads a pipe on a thread, so waiting for a line can time out."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream) -> None:
        for line in stream:
            self._queue.put(line)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line with {text!r} within {timeout} s; got {self.lines[-20:]}")
            try:
                self.lines.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                pass

    def drain(self) -> str:
        while not self._queue.empty():
            self.lines.append(self._queue.get())
        return "".join(self.lines)


def _rank(rank: int, port: str, timeout_s: int) -> subprocess.Popen:
    env = _clean_env() | {
        "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port
    }  # fmt: skip
    command = [str(BIN / "reidkit"), *SOAK, "--timeout", str(timeout_s)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _stop(*processes: subprocess.Popen) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()  # also ends a SIGSTOPped process
            process.wait(timeout=30)


@pytest.mark.parametrize(
    ("fault", "timeout_s", "cause"),
    [
        (signal.SIGKILL, 30, "a peer's connection dropped (it died or exited early)"),  # socket closes: at once
        (signal.SIGSTOP, 4, "a peer stayed silent longer than runtime.collective_timeout_s"),  # only the timeout tells
    ],
)
def test_a_lost_rank_fails_the_other_within_the_timeout_with_one_line(fault, timeout_s, cause):
    port = _free_port()
    rank0, rank1 = _rank(0, port, timeout_s), _rank(1, port, timeout_s)
    try:
        errors = _Lines(rank0.stderr)
        errors.wait_for("soaking for", START_S)
        faulted = time.monotonic()
        os.kill(rank1.pid, fault)
        code = rank0.wait(timeout=timeout_s + 60)
        waited = time.monotonic() - faulted
    finally:
        _stop(rank0, rank1)
    last = errors.drain().strip().splitlines()[-1]
    assert code == 1
    assert last.startswith("reidkit: rank 0 of 2: a collective failed: "), last
    assert cause in last
    assert waited < timeout_s + 10  # the timeout bounds the wait (+ slack for a busy machine)


@pytest.mark.skipif(not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists(), reason="needs Linux /proc")
def test_under_torchrun_a_killed_rank_ends_the_job_non_zero():
    command = [str(BIN / "torchrun"), "--standalone", "--nproc-per-node", "2", "--no-python", str(BIN / "reidkit"),
               *SOAK, "--timeout", "30"]  # fmt: skip
    job = subprocess.Popen(command, env=_clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    workers: list[int] = []
    try:
        errors = _Lines(job.stderr)
        errors.wait_for("soaking for", START_S)
        workers = [int(pid) for pid in Path(f"/proc/{job.pid}/task/{job.pid}/children").read_text().split()]
        rank1 = next(pid for pid in workers if "RANK=1" in Path(f"/proc/{pid}/environ").read_text().split("\0"))
        killed = time.monotonic()
        os.kill(rank1, signal.SIGKILL)
        code = job.wait(timeout=90)
        waited = time.monotonic() - killed
    finally:
        _stop(job)
        for pid in workers:  # torchrun stops its workers; this only guards against a leak
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    text = errors.drain()
    assert code != 0
    assert waited < 30
    assert "SIGKILL" in text  # torchrun's root-cause summary names the killed rank


# --- whole runs: `reidkit train` on the tiny preset, two gloo ranks ---------------------------------

HAS_PROC_CHILDREN = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists()


def _train_args(tiny_data: Path, run_dir: Path, timeout_s: int, *extra: str) -> list[str]:
    # long epochs, so that the fault lands while the ranks train
    sets = tiny_overrides(tiny_data, "train.iters_per_epoch=500", "eval.domains=['source']", "runtime.threads=1",
                          f"runtime.collective_timeout_s={timeout_s}", *extra)  # fmt: skip
    return ["train", "--profile", "strong_baseline", "--work-dir", str(run_dir), *as_sets(sets)]


def _train_rank(rank: int, port: str, args: list[str]) -> subprocess.Popen:
    env = _clean_env() | {
        "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port
    }  # fmt: skip
    return subprocess.Popen([str(BIN / "reidkit"), *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _reidkit_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("reidkit:")]


def test_the_survivor_of_a_killed_rank_prints_its_line_at_once_with_exit_code_1(tiny_data, tmp_path):
    port, args = _free_port(), _train_args(tiny_data, tmp_path / "run", 60)
    rank0, rank1 = _train_rank(0, port, args), _train_rank(1, port, args)
    try:
        errors = _Lines(rank0.stderr)
        errors.wait_for("] training", START_S)
        killed = time.monotonic()
        os.kill(rank1.pid, signal.SIGKILL)
        code = rank0.wait(timeout=60)
        waited = time.monotonic() - killed
    finally:
        _stop(rank0, rank1)
    text = errors.drain()
    (line,) = _reidkit_lines(text)
    assert text.rstrip().endswith(line)
    assert code == 1
    assert line.startswith("reidkit: rank 0 of 2: a collective failed: ")
    assert line.endswith(
        "; a peer's connection dropped (it died or exited early); the first failing rank's log names the cause; "
        "rerun the same command to resume from the latest checkpoint"
    )
    assert waited < 15  # at its next collective, not at the 60 s timeout


def test_bad_input_under_two_ranks_is_printed_by_rank_zero_once_with_exit_code_2(tiny_data, tmp_path):
    """A profile error (before the ranks meet) and a data error (after): the same on every rank."""
    for extra, line in (
        (["model.epss=1"], "reidkit: extra fields found (epss) @ profile.model"),
        (["train.ids_per_batch=40"], "reidkit: train.ids_per_batch is 40 on each of 2 ranks, but the training split of "
                                     "domain 'source' has 16 identities; set train.ids_per_batch to at most 8"),
    ):  # fmt: skip
        port, args = _free_port(), _train_args(tiny_data, tmp_path / "run", 120, *extra)
        ranks = [_train_rank(0, port, args), _train_rank(1, port, args)]
        try:
            outcomes = [(rank.wait(timeout=START_S), rank.stderr.read()) for rank in ranks]
        finally:
            _stop(*ranks)
        assert [code for code, _ in outcomes] == [2, 2]
        assert _reidkit_lines(outcomes[0][1]) == [line] and outcomes[0][1].rstrip().endswith(line)
        assert _reidkit_lines(outcomes[1][1]) == []


def _torchrun_train(args: list[str]) -> subprocess.Popen:
    command = [str(BIN / "torchrun"), "--standalone", "--nproc-per-node", "2", "--no-python", str(BIN / "reidkit"), *args]
    return subprocess.Popen(command, env=_clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _rank_one_of(job: subprocess.Popen) -> tuple[list[int], int]:
    workers = [int(pid) for pid in Path(f"/proc/{job.pid}/task/{job.pid}/children").read_text().split()]
    return workers, next(pid for pid in workers if "RANK=1" in Path(f"/proc/{pid}/environ").read_text().split("\0"))


def _end(job: subprocess.Popen, workers: list[int]) -> None:
    _stop(job)
    for pid in workers:  # torchrun stops its workers; this only guards against a leak
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.skipif(not HAS_PROC_CHILDREN, reason="needs Linux /proc")
def test_under_torchrun_a_hung_rank_ends_the_job_at_the_collective_timeout(tiny_data, tmp_path):
    """torchrun's SIGTERM cannot end a stopped process, and torchrun waits 30 s before its SIGKILL:
    the rank that reports the hung peer stops it, so the job ends at the timeout."""
    timeout_s = 15
    job, workers = _torchrun_train(_train_args(tiny_data, tmp_path / "run", timeout_s)), []
    try:
        errors = _Lines(job.stderr)
        errors.wait_for("] training", START_S)
        workers, rank1 = _rank_one_of(job)
        stopped = time.monotonic()
        os.kill(rank1, signal.SIGSTOP)
        job.wait(timeout=timeout_s + 60)
        waited = time.monotonic() - stopped
    finally:
        _end(job, workers)
    text = errors.drain()
    (line,) = _reidkit_lines(text)
    assert line.startswith("reidkit: rank 0 of 2: a collective failed: ")
    assert "a peer stayed silent longer than runtime.collective_timeout_s" in line
    assert waited < timeout_s + 10  # not torchrun's 30 s shutdown timeout on top


@pytest.mark.skipif(not HAS_PROC_CHILDREN, reason="needs Linux /proc")
def test_under_torchrun_the_survivor_prints_its_line_before_torchrun_stops_it(tiny_data, tmp_path):
    """torchrun stops the survivor as soon as it sees the killed rank; whichever comes first, the
    collective's failure or that SIGTERM, the survivor's one line is printed."""
    job, workers = _torchrun_train(_train_args(tiny_data, tmp_path / "run", 60)), []
    try:
        errors = _Lines(job.stderr)
        errors.wait_for("] training", START_S)
        workers, rank1 = _rank_one_of(job)
        os.kill(rank1, signal.SIGKILL)
        job.wait(timeout=90)
    finally:
        _end(job, workers)
    text = errors.drain()
    (line,) = _reidkit_lines(text)
    assert line in (
        "reidkit: rank 0 of 2: stopped by SIGTERM (torchrun stops every rank once one fails: the first failing rank's "
        "line or torchrun's summary names the cause); rerun the same command to resume from the latest checkpoint",
    ) or (line.startswith("reidkit: rank 0 of 2: a collective failed: ") and "a peer's connection dropped" in line)
    assert "exitcode  : -15" not in text  # rank 0 ended on its own terms (1 or 143), not killed silently

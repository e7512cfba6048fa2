"""How a failure ends a command: its one line, its exit code, once per process, and who prints it
under torchrun (entrypoints/failures.py)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from reidkit.domain.errors import (
    CheckpointError,
    DatasetError,
    DivergenceError,
    EvaluationError,
    ProfileError,
    ReidkitError,
)
from reidkit.entrypoints.failures import Failures


def test_exit_codes_by_kind_of_failure():
    failures = Failures("train")
    assert failures.describe(ProfileError("bad")) == ("bad", 2)
    assert failures.describe(EvaluationError("nothing to score")) == ("nothing to score", 2)
    diverged = DivergenceError(epoch=0, step=0, steps_per_epoch=1, losses={"total": float("nan")})
    assert failures.describe(diverged) == (str(diverged), 3)
    full = OSError(errno.ENOSPC, "No space left on device", "/run/checkpoints/epoch_0003.pt")
    assert failures.describe(full) == (
        "No space left on device: /run/checkpoints/epoch_0003.pt; the checkpoints written before it are kept: "
        "make room, then rerun the same command to resume from the latest checkpoint",
        4,
    )
    assert failures.describe(KeyboardInterrupt()) == ("interrupted; the latest checkpoint is kept, run the same command to resume", 130)
    assert failures.describe(RuntimeError("a bug")) is None  # its traceback stays


def test_a_file_system_error_outside_training_names_the_file_only():
    denied = OSError(errno.EACCES, "Permission denied", "/data/labels.npy")
    assert Failures("label").describe(denied) == ("Permission denied: /data/labels.npy", 4)


def test_only_the_first_failure_is_printed(capsys):
    failures = Failures("train")
    assert failures.report(DatasetError("the cause")) == 2
    assert failures.report(OSError(errno.EIO, "Input/output error", "/x")) == 2  # a failure of the teardown
    assert capsys.readouterr().err == "reidkit: the cause\n"


@pytest.mark.parametrize(
    ("error", "rank0", "rank1"),
    [
        (ProfileError("extra fields found (epss) @ profile.model"), True, False),  # the same on every rank
        (DatasetError("no images"), True, False),
        (CheckpointError("damaged"), True, False),
        (KeyboardInterrupt(), True, False),
        (OSError(errno.ENOSPC, "No space left on device", "/r/x.pt"), True, True),  # each rank its own
    ],
)
def test_under_torchrun_bad_input_is_printed_by_rank_zero_alone_with_the_same_code(capsys, error, rank0, rank1):
    codes = []
    for rank, prints in ((0, rank0), (1, rank1)):
        codes.append(Failures("train", rank=rank, world_size=2).report(error))
        err = capsys.readouterr().err
        assert (err != "") is prints
        if prints and isinstance(error, OSError):
            assert err.startswith(f"reidkit: rank {rank} of 2: No space left on device: /r/x.pt")
    assert codes[0] == codes[1]


def test_an_error_that_differs_by_rank_is_printed_by_every_rank(capsys):
    class LaunchError(ReidkitError):
        rank_specific = True

    assert Failures("train", rank=1, world_size=2).report(LaunchError("LOCAL_RANK=1 has no GPU")) == 2
    assert capsys.readouterr().err == "reidkit: LOCAL_RANK=1 has no GPU\n"


def test_rank_and_world_size_come_from_torchruns_variables():
    failures = Failures.of("adapt", {"RANK": "3", "WORLD_SIZE": "4"})
    assert (failures.rank, failures.world_size, failures.distributed) == (3, 4, True)
    assert (Failures.of("train", {"WORLD_SIZE": "two"}).world_size, Failures.of("train", {}).rank) == (1, 0)


SIGTERMED = textwrap.dedent(
    """
    import os, sys, time
    from reidkit.entrypoints.failures import Failures
    failures = Failures(sys.argv[1], rank=int(sys.argv[2]), world_size=int(sys.argv[3]))
    with failures.last_words():
        print("ready", flush=True)
        if sys.argv[4] == "blocked":
            os.read(os.pipe()[0], 1)  # blocked in C for good: only the watcher thread can answer
        else:
            time.sleep(60)
    """
)


@pytest.mark.parametrize(
    ("command", "rank", "world", "where", "line"),
    [
        ("train", 0, 1, "python", "reidkit: stopped by SIGTERM; the latest checkpoint is kept, run the same command to resume"),
        (
            "train", 1, 2, "blocked",
            "reidkit: rank 1 of 2: stopped by SIGTERM (torchrun stops every rank once one fails: the first failing rank's "
            "line or torchrun's summary names the cause); rerun the same command to resume from the latest checkpoint",
        ),
        ("evaluate", 0, 1, "blocked", "reidkit: stopped by SIGTERM"),
    ],
)  # fmt: skip
def test_sigterm_prints_the_line_at_once_even_while_the_main_thread_is_blocked(command, rank, world, where, line):
    process = subprocess.Popen(
        [sys.executable, "-c", SIGTERMED, command, str(rank), str(world), where],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        assert process.stdout.readline() == "ready\n"
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 143
    assert err.strip() == line


def test_last_words_put_the_previous_handler_back():
    before = signal.getsignal(signal.SIGTERM)
    with Failures("train").last_words():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before
    assert signal.set_wakeup_fd(-1) == -1  # and no wakeup descriptor is left behind


FORKED = textwrap.dedent(
    """
    import multiprocessing, os, signal, sys, time
    from reidkit.entrypoints.failures import Failures
    with Failures("train").last_words():
        child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(60,))
        child.start()
        time.sleep(0.5)
        os.kill(child.pid, signal.SIGTERM)  # as a DataLoader stops a worker
        child.join(20)
        time.sleep(0.5)  # the parent's watcher must not have heard of it
        print("child exit", child.exitcode, flush=True)
    """
)


def test_a_forked_worker_dies_of_sigterm_quietly_and_its_parent_goes_on():
    done = subprocess.run(
        [sys.executable, "-c", FORKED], capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": os.getcwd()}
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, f"child exit {-signal.SIGTERM}\n", "")

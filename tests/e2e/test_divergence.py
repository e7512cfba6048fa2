"""A diverging run stops at the step whose loss is not finite, with one line and exit code 3, before
it saves that epoch: the latest checkpoint stays the last finite one, and a resume from it works.
``train.max_bad_steps`` lets a run skip a few such steps instead."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
import torch
from dependency_injector import providers

from reidkit.adapters.data.transforms import build_train_transform
from reidkit.adapters.runtime.checkpoint import read_checkpoint
from reidkit.entrypoints.cli import main
from tests.support.tiny import as_sets, tiny_overrides

pytestmark = pytest.mark.slow

# The tiny preset trains 2 steps of 4 x 2 images per epoch: the transform's calls 25..32 are the
# images of epoch 2's second step.
IMAGES_PER_STEP = 8
EPOCH_2_STEP_2 = 3 * IMAGES_PER_STEP


def _error_line(err: str) -> str:
    errors = [line for line in err.splitlines() if line.startswith("reidkit:")]
    assert len(errors) == 1 and err.endswith(errors[0] + "\n")
    return errors[0]


def _train(run_dir: Path, *sets: str, hook=None) -> int:
    args = ["train", "--profile", "strong_baseline", "--work-dir", str(run_dir), *as_sets(sets)]
    return main(args) if hook is None else main(args, hook=hook)


def _all_finite(checkpoint: Path) -> bool:
    def tensors(value):
        if isinstance(value, torch.Tensor):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from tensors(item)
        elif isinstance(value, list | tuple):
            for item in value:
                yield from tensors(item)

    found = [t for t in tensors(read_checkpoint(checkpoint)["components"]) if t.is_floating_point()]
    return bool(found) and all(torch.isfinite(t).all() for t in found)


class NotANumberImages:
    """The run's training transform, except that ``count`` images from call ``after + 1`` on are
    NaN (a transient fault: corrupt data, a bf16 kernel glitch). It draws the same random numbers
    as the transform it wraps, so the rest of the run is unchanged."""

    def __init__(self, transform, after: int, count: int = IMAGES_PER_STEP) -> None:
        self.transform, self.after, self.count, self.calls = transform, after, count, 0

    def __call__(self, image):
        tensor = self.transform(image)
        self.calls += 1
        return tensor * float("nan") if self.after < self.calls <= self.after + self.count else tensor


def not_a_number_at(after: int):
    def hook(app) -> None:
        settings = app.profile.input
        transform = build_train_transform(
            settings.height, settings.width, flip_p=settings.flip_p, pad=settings.pad, erasing_p=settings.erasing_p
        )
        app.container.data.train_transform.override(providers.Object(NotANumberImages(transform, after)))

    return hook


def test_a_diverging_learning_rate_stops_the_run_and_keeps_the_last_finite_checkpoint(tiny_data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    # epoch 1 trains at 1e30 x 1e-35 (warm-up), epoch 2 at 1e30: its first update blows the weights up
    sets = tiny_overrides(tiny_data, "eval.domains=['source']", "optimizer.lr=1e30", "scheduler.warmup_factor=1e-35")
    assert _train(run_dir, *sets) == 3
    assert _error_line(capsys.readouterr().err) == (
        "reidkit: training diverged at epoch 2, step 2 of 2: non-finite loss (ce=nan, triplet=nan, total=nan); the "
        "latest checkpoint (epoch 1) is kept, the last with finite losses; lower optimizer.lr in a new --work-dir "
        "(a resumed run keeps its schedule), or let train.max_bad_steps skip such steps"
    )
    checkpoints = run_dir / "checkpoints"
    assert (checkpoints / "latest").read_text() == "epoch_0001.pt\n"
    assert not (checkpoints / "epoch_0002.pt").exists() and not (run_dir / "metrics.json").exists()
    assert _all_finite(checkpoints / "epoch_0001.pt")


def test_after_a_transient_divergence_the_resume_reaches_the_uninterrupted_result(tiny_data, tmp_path, capsys):
    sets = tiny_overrides(tiny_data, "eval.domains=['source']")
    full, failed = tmp_path / "full", tmp_path / "failed"
    assert _train(full, *sets) == 0
    assert _train(failed, *sets, hook=not_a_number_at(EPOCH_2_STEP_2)) == 3
    assert _error_line(capsys.readouterr().err).startswith(
        "reidkit: training diverged at epoch 2, step 2 of 2: non-finite loss (ce=nan, triplet=nan, total=nan); "
        "the latest checkpoint (epoch 1) is kept"
    )
    assert (failed / "checkpoints" / "latest").read_text() == "epoch_0001.pt\n"
    assert _all_finite(failed / "checkpoints" / "epoch_0001.pt")
    assert _train(failed, *sets) == 0  # the same command, the fault gone: it resumes from epoch 1
    metrics = [json.loads((run / "metrics.json").read_text())["evaluations"] for run in (full, failed)]
    assert metrics[0] == metrics[1]


def test_max_bad_steps_skips_a_bad_step_with_a_warning_and_the_run_stays_finite(tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    sets = tiny_overrides(tiny_data, "eval.domains=['source']", "train.max_bad_steps=1")
    assert _train(run_dir, *sets, hook=not_a_number_at(EPOCH_2_STEP_2)) == 0
    events = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    (skipped,) = [e for e in events if e["event"] == "non-finite loss: step skipped"]
    assert (skipped["epoch"], skipped["step"], skipped["level"]) == (2, 2, "warning")
    assert _all_finite(run_dir / "checkpoints" / "epoch_0002.pt")  # the skipped step left no NaN statistics
    (evaluation,) = json.loads((run_dir / "metrics.json").read_text())["evaluations"]
    assert 0 < evaluation["mAP"] <= 1


def test_the_line_starts_on_its_own_line_after_a_progress_bar(tiny_data, tmp_path):
    """On a terminal the epoch's progress bar is open when the run fails; the line must not be glued
    to it."""
    sets = tiny_overrides(tiny_data, "eval.domains=['source']", "optimizer.lr=1e30", "scheduler.warmup_factor=1e-35")
    command = [str(Path(sys.executable).parent / "reidkit"), "train", "--profile", "strong_baseline",
               "--work-dir", str(tmp_path / "run"), *as_sets(sets)]  # fmt: skip
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a bar needs a width
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert process.wait(timeout=120) == 3
    text = output.decode(errors="replace")
    assert "epoch 2/2:" in text  # the bar was drawn: this is a terminal
    assert "\nreidkit: training diverged at epoch 2, step 2 of 2" in text

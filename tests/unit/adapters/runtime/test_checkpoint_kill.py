"""TorchCheckpointer under SIGKILL: a child process is killed before each file-system operation of
a save in turn; every checkpoint left on disk must verify, and the next restore must resume from the
new or the previous epoch and finish what the save left undone (best.pt, latest, leftovers)."""

from __future__ import annotations

import os
import signal

import pytest
import torch
from torch import nn

from reidkit.adapters.runtime import checkpoint as checkpoint_module
from reidkit.adapters.runtime.checkpoint import TorchCheckpointer, read_checkpoint
from reidkit.domain.types import TrainingProgress

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

# The file-system calls a save makes; the child dies just before the n-th of them.
_OPERATIONS = ("open", "replace", "fsync", "link", "unlink")


def model(value: float) -> nn.Module:
    layer = nn.Linear(3, 2)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.fill_(value)
    return layer


def progress(epochs: int, best: float) -> TrainingProgress:
    history = tuple((e, "source", 0.1 * e) for e in range(epochs))
    return TrainingProgress(epochs_done=epochs, best_score=best, history=history)


def save_in_child(directory, value: float, epochs: int, *, is_best: bool, die_before: int | None) -> int:
    """Saves epoch ``epochs`` (every weight = ``value``) in a forked child that SIGKILLs itself
    just before its ``die_before``-th file-system call; returns how many calls it made."""
    checkpointer = TorchCheckpointer(directory, {"model": model(value)}, keep=2)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: count (and maybe die at) every call, then report the count
        os.close(read)
        calls = [0]
        for name in _OPERATIONS:
            original = getattr(os, name)

            def counted(*args, _original=original, **kwargs):
                if calls[0] == die_before:
                    os.kill(os.getpid(), signal.SIGKILL)
                calls[0] += 1
                return _original(*args, **kwargs)

            setattr(os, name, counted)
        try:
            checkpointer.save(progress(epochs, value), is_best=is_best)
            os.write(write, str(calls[0]).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        reported = pipe.read()
    _, status = os.waitpid(pid, 0)
    if die_before is not None:
        assert os.waitstatus_to_exitcode(status) == -signal.SIGKILL
        return die_before
    assert os.waitstatus_to_exitcode(status) == 0
    return int(reported)


def weight_of(path) -> float:
    return float(read_checkpoint(path)["components"]["model"]["weight"].flatten()[0])


def assert_every_checkpoint_verifies(directory) -> None:
    for path in directory.glob("*.pt"):
        read_checkpoint(path)  # raises CheckpointError on a missing or wrong checksum


def previous_run(directory) -> None:
    """Epochs 1 (best, weights 1.0) and 2 (weights 2.0), saved cleanly."""
    TorchCheckpointer(directory, {"model": model(1.0)}, keep=2).save(progress(1, 1.0), is_best=True)
    TorchCheckpointer(directory, {"model": model(2.0)}, keep=2).save(progress(2, 1.0), is_best=False)


@pytest.mark.parametrize("is_best", [True, False], ids=["new-best", "not-best"])
def test_a_save_killed_at_any_point_leaves_verifiable_checkpoints_and_resumes(tmp_path, is_best):
    clean = tmp_path / "clean"
    previous_run(clean)
    operations = save_in_child(clean, 3.0, 3, is_best=is_best, die_before=None)
    assert operations >= 8  # staging, checksum, rename, best, latest, pruning: more than a few calls

    for point in range(operations):
        folder = tmp_path / f"killed_{point}"
        previous_run(folder)
        save_in_child(folder, 3.0, 3, is_best=is_best, die_before=point)
        assert_every_checkpoint_verifies(folder)

        restored_model = model(0.0)
        restored = TorchCheckpointer(folder, {"model": restored_model}, keep=2).restore()
        assert restored is not None and restored.epochs_done in (2, 3), point
        assert float(restored_model.weight.detach().flatten()[0]) == restored.epochs_done  # the epoch's own weights
        # The restore finished the interrupted save: best and latest name what it resumed from.
        assert_every_checkpoint_verifies(folder)
        new_best = is_best and restored.epochs_done == 3
        assert weight_of(folder / "best.pt") == (3.0 if new_best else 1.0), point
        assert (folder / "latest").read_text() == f"epoch_{restored.epochs_done:04d}.pt\n", point
        assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")], point
        for sidecar in folder.glob("*.sha256"):
            assert sidecar.with_name(sidecar.name.removesuffix(".sha256")).exists(), (point, sidecar.name)


def test_the_save_writes_the_checksum_before_the_data_appears(tmp_path, monkeypatch):
    seen = []
    replace = os.replace

    def recording_replace(source, target):
        target = os.fspath(target)
        if target.endswith(".pt"):
            seen.append((os.path.basename(target), os.path.exists(target + ".sha256")))
        replace(source, target)

    monkeypatch.setattr(checkpoint_module.os, "replace", recording_replace)
    TorchCheckpointer(tmp_path, {"model": model(1.0)}).save(progress(1, 1.0), is_best=True)
    assert seen == [("epoch_0001.pt", True), ("best.pt", True)]


def test_an_old_checkpoint_without_the_best_flag_still_restores(tmp_path):
    path = tmp_path / "epoch_0001.pt"
    payload = {"format": checkpoint_module.FORMAT, "progress": checkpoint_module._progress_to_plain(progress(1, 0.5)),
               "components": {"model": model(4.0).state_dict()}}  # fmt: skip
    data = checkpoint_module._serialize(payload)
    path.write_bytes(data)
    import hashlib

    (tmp_path / "epoch_0001.pt.sha256").write_text(f"{hashlib.sha256(data).hexdigest()}  epoch_0001.pt\n")
    restored_model = model(0.0)
    assert TorchCheckpointer(tmp_path, {"model": restored_model}).restore().epochs_done == 1
    assert float(restored_model.weight.detach().flatten()[0]) == 4.0
    assert not (tmp_path / "best.pt").exists()


def test_a_first_save_killed_at_any_point_never_blocks_the_resume(tmp_path):
    # Before the checksum came first, a kill between the data and its checksum left the only
    # checkpoint unusable, and every later run stopped with "no usable checkpoint".
    operations = save_in_child(tmp_path / "clean", 1.0, 1, is_best=True, die_before=None)
    for point in range(operations):
        folder = tmp_path / f"killed_{point}"
        save_in_child(folder, 1.0, 1, is_best=True, die_before=point)
        assert_every_checkpoint_verifies(folder)
        restored = TorchCheckpointer(folder, {"model": model(0.0)}).restore()
        if restored is None:
            assert not list(folder.glob("*.pt")), point
        else:
            assert restored.epochs_done == 1 and weight_of(folder / "best.pt") == 1.0, point

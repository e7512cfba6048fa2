"""TorchCheckpointer: exact round trips, atomic writes, checksums, fallback, pruning, safety."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
import torch
from torch import nn

from reidkit.adapters.runtime import checkpoint as checkpoint_module
from reidkit.adapters.runtime.checkpoint import TorchCheckpointer, export_model, read_checkpoint
from reidkit.adapters.steps.optim import WarmupSchedule
from reidkit.domain.errors import CheckpointError
from reidkit.domain.ports import Checkpointer
from reidkit.domain.types import RetrievalMetrics, TrainingProgress


def components(seed: int = 0) -> dict:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return {"model": model, "optimizer": optimizer, "scheduler": WarmupSchedule(optimizer, warmup_epochs=2)}


def train_a_little(parts: dict, epoch: int) -> None:
    parts["scheduler"].set_epoch(epoch)
    loss = parts["model"](torch.randn(8, 4)).pow(2).mean()
    parts["optimizer"].zero_grad()
    loss.backward()
    parts["optimizer"].step()


def progress(epochs: int, best: float = float("-inf")) -> TrainingProgress:
    return TrainingProgress(epochs_done=epochs, best_score=best, history=tuple((e, "source", 0.1 * e) for e in range(epochs)))


def saved(tmp_path, epochs: int, *, keep: int = 5) -> tuple[TorchCheckpointer, list[dict]]:
    """Saves epochs 1..epochs, returning a copy of the model state after each."""
    parts = components()
    checkpointer = TorchCheckpointer(tmp_path, parts, keep=keep)
    states = []
    for epoch in range(1, epochs + 1):
        train_a_little(parts, epoch)
        checkpointer.save(progress(epoch), is_best=epoch == 1)
        states.append({k: v.clone() for k, v in parts["model"].state_dict().items()})
    return checkpointer, states


def assert_state_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_round_trip_restores_model_optimizer_scheduler_and_progress(tmp_path):
    parts = components()
    for epoch in range(3):
        train_a_little(parts, epoch)
    checkpointer = TorchCheckpointer(tmp_path, parts)
    assert isinstance(checkpointer, Checkpointer)
    latest = (("source", RetrievalMetrics(0.3, 0.1, [0.5, 0.75], 4, 3)), ("target", RetrievalMetrics(0.42, 0.2, [1.0], 2, 2)))
    saved_progress = TrainingProgress(
        epochs_done=3, best_score=0.42, history=((0, "source", 0.3), (2, "target", 0.42)), latest=latest
    )
    checkpointer.save(saved_progress, is_best=True)

    fresh = components(seed=1)
    restored = TorchCheckpointer(tmp_path, fresh).restore()
    assert restored == saved_progress
    assert_state_equal(fresh["model"].state_dict(), parts["model"].state_dict())
    opt_a, opt_b = parts["optimizer"].state_dict(), fresh["optimizer"].state_dict()
    assert opt_a["param_groups"] == opt_b["param_groups"]
    for index, state in opt_a["state"].items():
        assert torch.equal(state["momentum_buffer"], opt_b["state"][index]["momentum_buffer"])
    assert fresh["scheduler"].last_epoch == parts["scheduler"].last_epoch == 2
    assert fresh["scheduler"].get_last_lr() == parts["scheduler"].get_last_lr()


def test_files_written_and_checksum_sidecar_format(tmp_path):
    saved(tmp_path, 2)
    names = sorted(os.listdir(tmp_path))
    assert names == [
        "best.pt", "best.pt.sha256", "epoch_0001.pt", "epoch_0001.pt.sha256",
        "epoch_0002.pt", "epoch_0002.pt.sha256", "latest",
    ]  # fmt: skip
    assert (tmp_path / "latest").read_text() == "epoch_0002.pt\n"
    digest, name = (tmp_path / "epoch_0002.pt.sha256").read_text().split()
    assert name == "epoch_0002.pt" and len(digest) == 64
    # best.pt is the epoch-1 checkpoint (hard link or copy), and plain torch can read it safely.
    assert read_checkpoint(tmp_path / "best.pt")["progress"]["epochs_done"] == 1
    assert torch.load(tmp_path / "epoch_0002.pt", weights_only=True)["progress"]["epochs_done"] == 2


def test_no_checkpoint_means_none(tmp_path):
    assert TorchCheckpointer(tmp_path / "absent", components()).restore() is None


def test_keep_prunes_old_epochs_but_not_best(tmp_path):
    saved(tmp_path, 4, keep=2)
    epochs = sorted(n for n in os.listdir(tmp_path) if n.startswith("epoch_"))
    assert epochs == ["epoch_0003.pt", "epoch_0003.pt.sha256", "epoch_0004.pt", "epoch_0004.pt.sha256"]
    assert read_checkpoint(tmp_path / "best.pt")["progress"]["epochs_done"] == 1


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint_module.os, "fsync", broken_fsync)
    parts = components()
    with pytest.raises(OSError, match="No space"):
        TorchCheckpointer(tmp_path, parts).save(progress(1), is_best=True)
    assert os.listdir(tmp_path) == []


def test_corrupt_newest_falls_back_to_the_previous_with_a_warning(tmp_path, caplog):
    _, states = saved(tmp_path, 3)
    newest = tmp_path / "epoch_0003.pt"
    newest.write_bytes(newest.read_bytes()[:1000])  # truncated

    fresh = components(seed=7)
    with caplog.at_level(logging.WARNING):
        restored = TorchCheckpointer(tmp_path, fresh).restore()
    assert restored.epochs_done == 2
    assert_state_equal(fresh["model"].state_dict(), states[1])
    assert "epoch_0003.pt does not match its checksum" in caplog.text
    assert "falling back" in caplog.text


def test_missing_checksum_means_an_unfinished_save(tmp_path, caplog):
    saved(tmp_path, 2)
    (tmp_path / "epoch_0002.pt.sha256").unlink()
    with caplog.at_level(logging.WARNING):
        assert TorchCheckpointer(tmp_path, components()).restore().epochs_done == 1
    assert "no checksum file" in caplog.text


def test_checksum_mismatch_is_detected(tmp_path):
    saved(tmp_path, 1)
    path = tmp_path / "epoch_0001.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one flipped byte
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match its checksum"):
        read_checkpoint(path)
    with pytest.raises(CheckpointError, match="no usable checkpoint"):
        TorchCheckpointer(tmp_path, components()).restore()


class Opaque:
    pass


def test_checkpoint_needing_full_unpickling_is_refused(tmp_path):
    saved(tmp_path, 1)
    # A foreign file with a valid checksum: checksums prove integrity, not safety.
    path = tmp_path / "epoch_0002.pt"
    torch.save({"format": checkpoint_module.FORMAT, "progress": {}, "components": {"x": Opaque()}}, path)
    import hashlib

    (tmp_path / "epoch_0002.pt.sha256").write_text(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  epoch_0002.pt\n")
    with pytest.raises(CheckpointError, match="needs full unpickling") as err:
        TorchCheckpointer(tmp_path, components()).restore()
    assert "\n" not in str(err.value)


def test_component_state_that_could_not_be_loaded_back_is_refused_at_save(tmp_path):
    class Sampler:
        def __init__(self, value):
            self.value = value

        def state_dict(self):
            return {"order": np.arange(3), "count": np.int64(2), "rng": self.value}

        def load_state_dict(self, state):
            self.loaded = state

    TorchCheckpointer(tmp_path, {"sampler": Sampler(1)}).save(progress(1), is_best=False)
    target = Sampler(0)
    TorchCheckpointer(tmp_path, {"sampler": target}).restore()
    assert torch.equal(target.loaded["order"], torch.arange(3)) and target.loaded["count"] == 2

    with pytest.raises(CheckpointError, match=r"cannot checkpoint sampler\.rng: .*Opaque"):
        TorchCheckpointer(tmp_path, {"sampler": Sampler(Opaque())}).save(progress(2), is_best=False)


def test_missing_component_is_a_clear_error(tmp_path):
    saved(tmp_path, 1)
    parts = components() | {"memory": nn.Linear(2, 2)}
    with pytest.raises(CheckpointError, match="lacks component"):
        TorchCheckpointer(tmp_path, parts).restore()


def test_export_model_writes_a_plain_state_dict(tmp_path):
    model = nn.Linear(3, 2)
    export_model(tmp_path / "out" / "model.pt", model)
    loaded = torch.load(tmp_path / "out" / "model.pt", weights_only=True)
    assert_state_equal(loaded, model.state_dict())
    assert os.listdir(tmp_path / "out") == ["model.pt"]


def test_constructor_validation():
    with pytest.raises(ValueError, match="keep"):
        TorchCheckpointer("x", components(), keep=0)
    with pytest.raises(TypeError, match="'thing'"):
        TorchCheckpointer("x", {"thing": object()})

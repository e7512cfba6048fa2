"""The bad-input matrix end to end (docs/bad_input.md): each case a clear one-line error with exit
code 2, or a documented recovery, and nothing lost."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from reidkit.adapters.data.scan import report_path
from reidkit.adapters.models.backbone import build_reid_model
from reidkit.adapters.models.weights import load_pretrained, read_state_dict
from reidkit.domain.errors import CheckpointError, DatasetError
from reidkit.entrypoints.cli import main
from reidkit.entrypoints.app import build_app
from reidkit.entrypoints.settings import load_profile
from tests.support.tiny import as_sets, tiny_overrides


def _error_line(err: str) -> str:
    """The one ``reidkit:`` line, last on stderr (log lines of the run may come before it)."""
    errors = [line for line in err.splitlines() if line.startswith("reidkit:")]
    assert len(errors) == 1 and err.endswith(errors[0] + "\n")
    return errors[0]


@pytest.fixture
def damaged_source(tiny_data: Path, tmp_path: Path) -> tuple[Path, list[Path]]:
    """A copy of the tiny source domain with two unreadable training images (the shared copy stays whole)."""
    root = tmp_path / "source"
    shutil.copytree(next(tiny_data.glob("tiny-seed0")) / "source", root)
    images = sorted((root / "bounding_box_train").iterdir())
    truncated, text = images[3], images[10]
    truncated.write_bytes(truncated.read_bytes()[:100])
    text.write_text("this is not a picture\n")
    return root, [truncated, text]


def _market(tiny_data: Path, source: Path, *extra: str) -> list[str]:
    return tiny_overrides(
        tiny_data, "data.kind='market'", f"data.roots.source='{source}'", "eval.domains=['source']", *extra
    )


def test_unreadable_training_images_stop_before_training_with_one_line(tiny_data, damaged_source, tmp_path, capsys):
    source, bad = damaged_source
    run_dir = tmp_path / "run"
    code = main(["train", "--profile", "strong_baseline", "--work-dir", str(run_dir), *as_sets(_market(tiny_data, source))])
    err = _error_line(capsys.readouterr().err)
    assert code == 2
    assert err.startswith("reidkit: 2 of 64 training images of domain 'source' cannot be read: ")
    assert all(str(path) in err for path in bad)
    report = report_path(run_dir, "source")
    assert str(report) in err and "data.unreadable = 'skip'" in err
    assert sorted(line.split("\t")[0] for line in report.read_text().splitlines()[1:]) == sorted(map(str, bad))
    assert not (run_dir / "checkpoints").exists() or not any((run_dir / "checkpoints").iterdir())


@pytest.mark.slow
def test_skip_trains_without_them_and_reports_them(tiny_data, damaged_source, tmp_path):
    source, bad = damaged_source
    run_dir = tmp_path / "run"
    overrides = _market(tiny_data, source, "data.unreadable='skip'")
    assert main(["train", "--profile", "strong_baseline", "--work-dir", str(run_dir), *as_sets(overrides)]) == 0
    assert (run_dir / "checkpoints" / "epoch_0002.pt").is_file()
    assert len(report_path(run_dir, "source").read_text().splitlines()) == 1 + len(bad)
    events = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    (skipped,) = [e for e in events if e["event"] == "unreadable training images skipped"]
    assert (skipped["skipped"], skipped["of"], skipped["domain"]) == (2, 64, "source")


def test_an_adaptation_screens_its_labelled_source_domain_too(tiny_data, damaged_source, tmp_path):
    source, _ = damaged_source
    target = next(tiny_data.glob("tiny-seed0")) / "target"
    profile = load_profile(
        "spcl_uda",
        [
            "data.kind='market'",
            f"data.roots.source='{source}'",
            f"data.roots.target='{target}'",
            "eval.domains=['target']",
            "adapt.start_from='scratch'",
        ],
    )
    app = build_app(profile, work_dir=str(tmp_path / "run"))
    assert len(app.container.data.train_set().train) == 64  # the target is whole
    with pytest.raises(DatasetError, match=r"2 of 64 training images of domain 'source' cannot be read"):
        app.container.adaptation.source_set()


def test_an_unknown_policy_is_a_profile_error(tmp_path, capsys):
    code = main(["train", "--profile", "strong_baseline", "--work-dir", str(tmp_path), "--set", "data.unreadable='ignore'"])
    assert code == 2
    assert capsys.readouterr().err == (
        "reidkit: must be one of ['fail', 'skip'], got 'ignore' @ profile.data.unreadable\n"
    )


def test_a_custom_dataset_without_camera_ids_is_named_at_the_command_line(tiny_data, tmp_path, capsys):
    root = tmp_path / "mine"
    shutil.copytree(next(tiny_data.glob("tiny-seed0")) / "source", root)
    first = sorted((root / "bounding_box_train").iterdir())[0]
    first.rename(first.with_name(first.name.split("_")[0] + "_000001.jpg"))
    code = main(["train", "--profile", "strong_baseline", "--work-dir", str(tmp_path / "run"), *as_sets(_market(tiny_data, root))])
    err = _error_line(capsys.readouterr().err)
    assert code == 2
    assert "has no camera id" in err and "bounding_box_train" in err


# --- checkpoints from elsewhere -----------------------------------------------------------------


def _reid_state() -> dict[str, torch.Tensor]:
    return build_reid_model("resnet18", num_classes=5, last_stride=2).state_dict()


def test_a_torchreid_checkpoint_loads_with_weights_only(tmp_path):
    # torchreid saves state_dict (DataParallel prefixes), epoch, a numpy rank-1, optimizer state.
    state = _reid_state()
    path = tmp_path / "model.pth.tar-60"
    optimizer = {"state": {}, "param_groups": [{"lr": 3e-4, "params": [0, 1]}]}
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 60,
                "rank1": np.float32(0.87), "optimizer": optimizer}, path)
    model = build_reid_model("resnet18", num_classes=5, last_stride=2)
    report = load_pretrained(model, path)
    assert report.complete
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())


def test_numpy_one_names_in_an_old_checkpoint_are_accepted(tmp_path):
    path = tmp_path / "old.pth"
    torch.save({"state_dict": {"w": torch.ones(2)}, "best_mAP": np.float64(0.5), "cmc": np.arange(3.0)}, path)
    _rename_in_pickle(path, b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in _pickle_bytes(path)
    assert torch.equal(read_state_dict(path)["w"], torch.ones(2))


def test_an_openunreid_checkpoint_with_one_network_loads_and_two_are_refused(tmp_path):
    one, two = tmp_path / "one.pth", tmp_path / "two.pth"
    torch.save({"state_dict_1": {"w": torch.ones(2)}, "epoch": 40, "best_mAP": np.float64(0.7)}, one)
    torch.save({"state_dict_1": {"w": torch.ones(2)}, "state_dict_2": {"w": torch.zeros(2)}}, two)
    assert torch.equal(read_state_dict(one)["w"], torch.ones(2))
    with pytest.raises(CheckpointError, match=r"two\.pth holds 2 networks \(state_dict_1, state_dict_2\)") as error:
        read_state_dict(two)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(lambda: torch.nn.Linear(2, 2), id="a whole pickled model"),
        pytest.param(lambda: {"state_dict": {"w": torch.ones(1)}, "cells": np.array([object()], dtype=object)}, id="object array"),
    ],
)
def test_anything_needing_full_unpickling_is_refused_at_the_command_line(tmp_path, capsys, content):
    path = tmp_path / "foreign.pth"
    torch.save(content(), path)
    code = main(["train", "--profile", "strong_baseline", "--work-dir", str(tmp_path / "run"), "--set", f"model.pretrained='{path}'"])
    err = _error_line(capsys.readouterr().err)
    assert code == 2
    assert f"reidkit: {path} holds objects other than tensors" in err and "refusing to unpickle" in err


def _pickle_bytes(path: Path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))


def _rename_in_pickle(path: Path, old: bytes, new: bytes) -> None:
    """Rewrite the module name a global is pickled under (protocol 2 GLOBAL: 'module\\nname\\n')."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename.endswith("data.pkl"):
                data = data.replace(old + b"\n", new + b"\n")
            target.writestr(info, data)
    path.write_bytes(buffer.getvalue())

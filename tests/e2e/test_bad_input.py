"""The bad-input matrix end to end (docs/bad_input.md): each case a clear one-line error with exit
code 2, or a documented recovery, and nothing lost."""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from dependency_injector import providers

from reidkit.adapters.data.scan import report_path
from reidkit.adapters.models.backbone import build_reid_model
from reidkit.adapters.models.weights import load_pretrained, read_state_dict
from reidkit.adapters.runtime.checkpoint import AtomicFiles, read_checkpoint
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


# --- feature files: `reidkit evaluate --features` and `reidkit label` ----------------------------


def _features(**override: np.ndarray) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        "query_features": rng.standard_normal((3, 4)).astype(np.float32),
        "gallery_features": rng.standard_normal((5, 4)).astype(np.float32),
        "query_pids": np.arange(3), "gallery_pids": np.arange(5) % 3,
        "query_camids": np.zeros(3, dtype=np.int64), "gallery_camids": np.ones(5, dtype=np.int64),
    }  # fmt: skip
    return {**arrays, **override}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"query_features": np.full((3, 4), np.nan, np.float32)}, "query_features holds 12 non-finite value(s) (NaN or infinity), the first at row 0, column 0 (nan)"),
        ({"gallery_features": np.array([[0, 0, np.inf, 0]] * 5, np.float32)}, "gallery_features holds 5 non-finite value(s) (NaN or infinity), the first at row 0, column 2 (inf)"),
        ({"query_features": np.full((3, 4), 1e30, np.float32)}, "query_features row 0 has norm 2e+30, too large for float32 distances (their squares overflow); scale the features down, e.g. L2-normalise them"),
        ({"query_features": np.zeros((0, 4), np.float32), "query_pids": np.zeros(0, int), "query_camids": np.zeros(0, int)}, "query_features has no rows (shape (0, 4)); evaluation needs at least one query item"),
        ({"gallery_features": np.zeros((0, 4), np.float32), "gallery_pids": np.zeros(0, int), "gallery_camids": np.zeros(0, int)}, "gallery_features has no rows (shape (0, 4)); evaluation needs at least one gallery item"),
        ({"gallery_camids": np.zeros(5, np.int64)}, "none of the 3 queries has a gallery item of its identity under another camera (same-camera matches are not counted), so there is nothing to score; check the pids and camids"),
        ({"query_features": np.zeros((3, 0), np.float32), "gallery_features": np.zeros((5, 0), np.float32)}, "query_features has dimension 0 (shape (3, 0)); there is nothing to compare"),
        ({"gallery_pids": np.array([0, 1, 2, 0, 1], dtype=object)}, "member gallery_pids is not a plain array (Object arrays cannot be loaded when allow_pickle=False)"),
    ],
    ids=["nan", "inf", "overflowing distances", "no query", "no gallery", "no valid match", "zero-dimensional", "object member"],
)  # fmt: skip
def test_evaluate_checks_what_a_feature_file_holds(tmp_path, capsys, override, message):
    path = tmp_path / "features.npz"
    np.savez(path, **_features(**override))
    assert main(["evaluate", "--features", str(path)]) == 2
    assert capsys.readouterr().err == f"reidkit: {path}: {message}\n"


def test_evaluate_given_a_npy_or_a_max_rank_of_zero_says_so(tmp_path, capsys):
    npy, npz = tmp_path / "gallery.npy", tmp_path / "features.npz"
    np.save(npy, np.zeros((5, 4), np.float32))
    np.savez(npz, **_features())
    assert main(["evaluate", "--features", str(npy)]) == 2
    assert capsys.readouterr().err == (
        f"reidkit: {npy}: holds a single array (5, 4) (a .npy file); evaluate needs a .npz archive with "
        "query_features, query_pids, query_camids, gallery_features, gallery_pids, gallery_camids (numpy.savez)\n"
    )
    assert main(["evaluate", "--features", str(npz), "--max-rank", "0"]) == 2
    assert capsys.readouterr().err == "reidkit: --max-rank must be at least 1 (the CMC's length), got 0\n"
    assert main(["evaluate", "--features", str(npz), "--json", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"reidkit: --json {tmp_path} is a folder; give a file name\n"


def test_label_refuses_an_archive_empty_features_and_an_unwritable_out_before_clustering(tmp_path, capsys):
    npz, empty, good = tmp_path / "features.npz", tmp_path / "empty.npy", tmp_path / "good.npy"
    np.savez(npz, **_features())
    np.save(empty, np.zeros((40, 0), np.float32))
    np.save(good, np.random.default_rng(0).standard_normal((40, 8)).astype(np.float32))
    out = tmp_path / "labels.npy"
    assert main(["label", "--features", str(npz), "--out", str(out)]) == 2
    assert capsys.readouterr().err.endswith(
        f"reidkit: {npz} is an .npz archive (query_features, gallery_features, query_pids, gallery_pids, query_camids, "
        "gallery_camids); label needs one float (N, D) array in a .npy file (numpy.save), e.g. the gallery_features of an evaluate file\n"
    )
    assert main(["label", "--features", str(empty), "--out", str(out)]) == 2
    assert capsys.readouterr().err.endswith(f"reidkit: {empty} holds no features to cluster (shape (40, 0)); it needs N >= 1 rows of D >= 1\n")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(["label", "--features", str(good), "--out", str(blocker / "labels.npy")]) == 2
    err = capsys.readouterr().err
    assert err.endswith(f"reidkit: --out {blocker / 'labels.npy'} cannot be written: {blocker} is a file, not a folder\n")
    assert "pseudo-labels" not in err  # refused before any clustering
    assert not out.exists()


# --- settings checked before any work -------------------------------------------------------------


def _train(run_dir: Path, *sets: str, hook=None) -> int:
    args = ["train", "--profile", "strong_baseline", "--work-dir", str(run_dir), *as_sets(sets)]
    return main(args) if hook is None else main(args, hook=hook)


def _nothing_trained(run_dir: Path) -> bool:
    checkpoints = run_dir / "checkpoints"
    return not checkpoints.exists() or not any(checkpoints.iterdir())


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("runtime.device='gpu'", "'device' must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'gpu' @ profile.runtime"),
        ("runtime.threads=100000", "'threads' must be <= 1024: 100000 @ profile.runtime"),
        ("eval.domains=[]", "'domains' is empty: name at least one domain to evaluate (the first picks the best checkpoint, best.pt; a run without one would end with no metrics and no best model) @ profile.eval"),
        ("train=3", "[train] is a table of settings, got int 3; set one of its keys (--set train.KEY=VALUE) @ profile.train"),
    ],
)  # fmt: skip
def test_a_setting_that_cannot_work_is_refused_at_once(tiny_data, tmp_path, capsys, setting, message):
    assert _train(tmp_path / "run", *tiny_overrides(tiny_data, setting)) == 2
    assert capsys.readouterr().err == f"reidkit: {message}\n"
    assert not (tmp_path / "run").exists()


def test_more_identities_per_batch_than_the_split_holds_is_refused_before_training(tiny_data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert _train(run_dir, *tiny_overrides(tiny_data, "train.ids_per_batch=40")) == 2
    assert _error_line(capsys.readouterr().err) == (
        "reidkit: train.ids_per_batch is 40, but the training split of domain 'source' has 16 identities; "
        "set train.ids_per_batch to at most 16"
    )
    assert _nothing_trained(run_dir) and "training" not in (run_dir / "log.jsonl").read_text()


def test_a_training_split_of_distractors_only_is_named(tiny_data, tmp_path, capsys):
    root = tmp_path / "source"
    shutil.copytree(next(tiny_data.glob("tiny-seed0")) / "source", root)
    for image in (root / "bounding_box_train").iterdir():
        image.rename(image.with_name("0000" + image.name[4:]))
    assert _train(tmp_path / "run", *_market(tiny_data, root)) == 2
    assert _error_line(capsys.readouterr().err) == (
        f"reidkit: the training split {root / 'bounding_box_train'} holds only distractor images (pid 0: no identity, "
        "kept for the gallery); training needs images named by identity ('0001_c1...', '0002_c1...')"
    )


def test_the_files_a_split_leaves_out_are_counted_in_the_run_log(tiny_data, tmp_path):
    root = tmp_path / "source"
    shutil.copytree(next(tiny_data.glob("tiny-seed0")) / "source", root)
    train = root / "bounding_box_train"
    (train / "Thumbs.db").write_bytes(b"")
    (train / "0099_c1s1_000001_00.jpg").symlink_to(tmp_path / "moved_away.jpg")
    (train / "-1_c1s1_000001_00.jpg").write_bytes(b"")
    (train / "extra").mkdir()
    run_dir = tmp_path / "run"
    # stopped right after reading by a batch the split cannot fill: the reading is what is checked
    assert _train(run_dir, *_market(tiny_data, root, "train.ids_per_batch=40")) == 2
    events = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    (left_out,) = [e for e in events if e["event"] == "files left out of a split" and e["split"] == str(train)]
    assert {k: left_out[k] for k in ("images", "other_extensions", "broken_links", "junk", "folders")} == {
        "images": 64, "other_extensions": 1, "broken_links": 1, "junk": 1, "folders": 1,
    }  # fmt: skip


# --- the file system --------------------------------------------------------------------------------


def test_a_run_folder_that_is_a_file_or_cannot_be_written_is_one_line(tiny_data, tmp_path, capsys):
    a_file = tmp_path / "run"
    a_file.write_text("not a folder")
    assert _train(a_file, *tiny_overrides(tiny_data)) == 2
    assert capsys.readouterr().err == f"reidkit: the run folder {a_file} is a file, not a folder; choose another --work-dir\n"
    assert a_file.read_text() == "not a folder"
    # /sys refuses new files to everyone, root included: a read-only folder on any Linux
    assert _train(Path("/sys"), *tiny_overrides(tiny_data)) == 2
    assert capsys.readouterr().err.startswith("reidkit: cannot write in the run folder /sys: ")
    assert _train(Path("/sys/reidkit-run"), *tiny_overrides(tiny_data)) == 2
    assert capsys.readouterr().err.startswith("reidkit: cannot create the run folder /sys/reidkit-run: ")


class FullDiskAtTheSecondSave(AtomicFiles):
    """Checkpoint files on a disk that fills up while the second epoch's checkpoint is written."""

    def stage(self, path, data):
        if path.name == "epoch_0002.pt":
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().stage(path, data)


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_keeps_the_checkpoints_before_it(tiny_data, tmp_path, capsys):
    run_dir = tmp_path / "run"

    def full_disk(app) -> None:
        app.container.training.checkpoint_files.override(providers.Object(FullDiskAtTheSecondSave()))

    assert _train(run_dir, *tiny_overrides(tiny_data, "eval.domains=['source']"), hook=full_disk) == 4
    assert _error_line(capsys.readouterr().err) == (
        f"reidkit: No space left on device: {run_dir / 'checkpoints' / 'epoch_0002.pt'}; the checkpoints written before "
        "it are kept: make room, then rerun the same command to resume from the latest checkpoint"
    )
    checkpoints = run_dir / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["epoch_0001.pt", "epoch_0001.pt.sha256", "latest"]
    assert read_checkpoint(checkpoints / "epoch_0001.pt")["progress"]["epochs_done"] == 1  # whole, checksum verified
    assert _train(run_dir, *tiny_overrides(tiny_data, "eval.domains=['source']")) == 0  # room made: it resumes
    assert (checkpoints / "latest").read_text() == "epoch_0002.pt\n"


def test_unreadable_images_with_odd_names_keep_the_line_and_the_list_whole(tiny_data, tmp_path, capsys):
    root = tmp_path / "source"
    shutil.copytree(next(tiny_data.glob("tiny-seed0")) / "source", root)
    train = os.fsencode(root / "bounding_box_train")
    first, second = sorted(os.listdir(train))[:2]
    os.rename(train + b"/" + first, train + b"/" + first[:10] + b"\xff\xfe_00.jpg")  # not UTF-8
    os.rename(train + b"/" + second, train + b"/" + second[:10] + b"a\nb\tc_00.jpg")
    for name in (first[:10] + b"\xff\xfe_00.jpg", second[:10] + b"a\nb\tc_00.jpg"):
        with open(train + b"/" + name, "wb") as handle:
            handle.write(b"not a picture")
    run_dir = tmp_path / "run"
    assert _train(run_dir, *_market(tiny_data, root)) == 2
    err = _error_line(capsys.readouterr().err)
    shown = [f"{root / 'bounding_box_train'}/{os.fsdecode(first[:10])}\\xff\\xfe_00.jpg", f"{root / 'bounding_box_train'}/{os.fsdecode(second[:10])}a\\nb\\tc_00.jpg"]
    assert err.startswith("reidkit: 2 of 64 training images of domain 'source' cannot be read: ")
    assert all(f"image {name} cannot be decoded" in err for name in shown)
    rows = report_path(run_dir, "source").read_text(encoding="utf-8").splitlines()
    assert [row.split("\t")[0] for row in rows] == ["path", *shown]


# --- smaller ones -----------------------------------------------------------------------------------


def test_a_finished_run_restarted_with_fewer_epochs_says_it_is_past_them(tiny_data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    sets = tiny_overrides(tiny_data, "eval.domains=['source']", "scheduler.warmup_epochs=0")
    assert _train(run_dir, *sets) == 0
    capsys.readouterr()
    assert _train(run_dir, *sets, "train.epochs=1") == 0
    err = capsys.readouterr().err
    assert "nothing to train: the run folder's latest checkpoint is already past train.epochs (2 epochs done, 1 asked for)" in err
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("epoch_*.pt")) == ["epoch_0001.pt", "epoch_0002.pt"]


def test_a_latin1_profile_and_a_section_given_a_value_are_named(tmp_path, capsys):
    latin = tmp_path / "mine.toml"
    latin.write_bytes("name = 'Müller'\n".encode("latin-1"))
    assert main(["train", "--profile", str(latin), "--work-dir", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == (
        f"reidkit: profile {latin} is not UTF-8 text (byte 0xfc at line 1, column 10; Latin-1 or another legacy "
        "encoding?): TOML files must be UTF-8, so re-save it as UTF-8\n"
    )
    assert main(["train", "--work-dir", str(tmp_path / "run"), "--set", "model=3"]) == 2
    assert capsys.readouterr().err == (
        "reidkit: [model] is a table of settings, got int 3; set one of its keys (--set model.KEY=VALUE) @ profile.model\n"
    )


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["adapt", "--profile", "cluster_contrast_usl", "--set", "cluster_contrast.update_rule=median"],
         "reidkit: must be one of ['mean', 'hard'], got 'median' @ profile.cluster_contrast.update_rule"),
        (["adapt", "--profile", "mmt_usl", "--set", "mean_teach.peer_start='second_pretraining'"],
         "reidkit: mean_teach.peer_start = 'second_pretraining' needs adapt.start_from = 'source_model' @ profile"),
        (["demo", "--adapt-profile", "spcl_uda", "--adapt-set", "spcl.temprature=0.1"], "reidkit: extra fields found (temprature) @ profile.spcl"),
        (["evaluate", "--features", "f.npz", "--set", "rerank.k1=0"], "reidkit: 'k1' must be >= 1: 0 @ profile.rerank"),
        (["train", "--set", "runtime.device='gpu'"], "reidkit: 'device' must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'gpu' @ profile.runtime"),
    ],
    ids=["method table", "method check", "demo second stage", "evaluate", "train"],
)  # fmt: skip
def test_profile_errors_are_reported_before_torch_is_imported(tmp_path, argv, line):
    import subprocess
    import sys

    code = (
        "import sys; from reidkit.entrypoints.cli import main; "
        f"code = main({argv!r}); sys.exit(100 + code if 'torch' in sys.modules else code)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert (result.returncode, result.stderr) == (2, line + "\n")

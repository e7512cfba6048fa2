"""The pre-training scan and the data.unreadable policy: fail lists the bad files in one line,
skip trains without them; either way the full list lands in the run folder."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from structlog.testing import capture_logs

from reidkit.adapters.data.scan import report_path, scan_images, screen_training_images
from reidkit.domain.errors import DatasetError
from reidkit.domain.types import ImageRecord, ReidDataset


def _good(path: Path, mode: str = "RGB", size: tuple[int, int] = (8, 16)) -> Path:
    Image.new(mode, size).save(path)
    return path


def _truncated(path: Path) -> Path:
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (64, 32, 3), dtype=np.uint8)
    Image.fromarray(noise, "RGB").save(buffer, format="JPEG")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path


def _zero_bytes(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _text(path: Path) -> Path:
    path.write_text("not a picture\n")
    return path


def _dataset(tmp_path: Path, bad: dict[str, object]) -> ReidDataset:
    """Train: pid 10 twice, pid 20 once, pid 30 twice (good unless named in ``bad``)."""
    makers = {"a.png": 10, "b.png": 10, "c.png": 20, "d.png": 30, "e.png": 30}
    train = []
    for name, pid in makers.items():
        path = tmp_path / name
        bad[name](path) if name in bad else _good(path)  # type: ignore[operator]
        train.append(ImageRecord(path=str(path), pid=pid, camid=0, domain="src"))
    query = (ImageRecord(str(tmp_path / "q.png"), 1, 0, "src"),)
    gallery = (ImageRecord(str(tmp_path / "g.png"), 1, 1, "src"),)
    return ReidDataset(name="src", train=train, query=query, gallery=gallery)


def test_scan_flags_every_unreadable_kind_in_order_and_passes_odd_modes(tmp_path: Path) -> None:
    good = [
        _good(tmp_path / "grey.png", "L"),
        _good(tmp_path / "rgba.png", "RGBA"),
        _good(tmp_path / "cmyk.jpg", "CMYK"),
        _good(tmp_path / "wide.png", "I;16"),
        _good(tmp_path / "dot.png", "RGB", (1, 1)),
    ]
    bad = [_truncated(tmp_path / "cut.jpg"), _zero_bytes(tmp_path / "empty.jpg"), _text(tmp_path / "notes.jpg")]
    paths = [str(p) for p in (good[0], bad[0], good[1], bad[1], good[2], bad[2], good[3], good[4])]
    paths.append(str(tmp_path / "gone.jpg"))
    seen: list[tuple[int, int]] = []
    scan = scan_images(paths, progress=lambda done, total: seen.append((done, total)))
    assert scan.checked == 9
    assert [Path(u.path).name for u in scan.unreadable] == ["cut.jpg", "empty.jpg", "notes.jpg", "gone.jpg"]
    assert all(u.path in u.reason and "\n" not in u.reason for u in scan.unreadable)
    assert seen[-1] == (9, 9)


def test_fail_stops_with_one_line_naming_the_first_files_and_writes_the_full_list(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path, {"a.png": _zero_bytes, "b.png": _text, "c.png": _truncated, "e.png": _zero_bytes})
    run_dir = tmp_path / "run"
    with pytest.raises(DatasetError) as error:
        screen_training_images(dataset, "fail", run_dir)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("4 of 5 training images of domain 'src' cannot be read: ")
    assert all(f"{tmp_path / n}" in message for n in ("a.png", "b.png", "c.png"))
    assert "e.png" not in message and "(and 1 more)" in message
    report = report_path(run_dir, "src")
    assert str(report) in message and "data.unreadable = 'skip'" in message
    lines = report.read_text().splitlines()
    assert lines[0] == "path\treason"
    assert [Path(line.split("\t")[0]).name for line in lines[1:]] == ["a.png", "b.png", "c.png", "e.png"]
    assert "empty (zero-byte)" in lines[1] and "cannot be decoded" in lines[2]


def test_skip_trains_without_them_relabelled_and_reports_them(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path, {"b.png": _text, "c.png": _zero_bytes})  # pid 20 loses its only image
    with capture_logs() as logs:
        kept = screen_training_images(dataset, "skip", tmp_path / "run")
    assert [(Path(r.path).name, r.pid) for r in kept.train] == [("a.png", 0), ("d.png", 1), ("e.png", 1)]
    assert kept.num_train_pids == 2
    assert kept.query == dataset.query and kept.gallery == dataset.gallery and kept.name == "src"
    (event,) = [e for e in logs if e["event"] == "unreadable training images skipped"]
    assert (event["log_level"], event["skipped"], event["of"]) == ("warning", 2, 5)
    assert event["report"] == str(report_path(tmp_path / "run", "src"))
    assert len(report_path(tmp_path / "run", "src").read_text().splitlines()) == 3


def test_skip_with_nothing_readable_left_is_an_error(tmp_path: Path) -> None:
    every = dict.fromkeys(["a.png", "b.png", "c.png", "d.png", "e.png"], _zero_bytes)
    with pytest.raises(DatasetError, match=r"5 of 5 training images .* none is left to train on"):
        screen_training_images(_dataset(tmp_path, every), "skip", tmp_path / "run")


def test_a_clean_split_comes_back_as_is_and_a_stale_list_is_removed(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path, {})
    stale = report_path(tmp_path / "run", "src")
    stale.parent.mkdir()
    stale.write_text("path\treason\nold.jpg\tgone\n")
    assert screen_training_images(dataset, "fail", tmp_path / "run") is dataset
    assert not stale.exists()


def test_an_unknown_policy_names_itself(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"one of \['fail', 'skip'\], got 'ignore'"):
        screen_training_images(_dataset(tmp_path, {}), "ignore", tmp_path)  # type: ignore[arg-type]


def test_names_with_odd_bytes_newlines_and_tabs_keep_the_line_and_the_list_whole(tmp_path: Path) -> None:
    folder = os.fsencode(tmp_path)
    names = [b"0001_c1_\xff\xfe.jpg", b"0002_c1_a\nb.jpg", b"0003_c1_a\tb.jpg"]
    for name in names:
        with open(folder + b"/" + name, "wb") as handle:
            handle.write(b"not a picture")
    train = [ImageRecord(path=os.fsdecode(folder + b"/" + n), pid=i, camid=0, domain="src") for i, n in enumerate(names)]
    dataset = ReidDataset(name="src", train=train, query=train[:1], gallery=train[:1])
    with pytest.raises(DatasetError) as error:
        screen_training_images(dataset, "fail", tmp_path / "run")
    message = str(error.value)
    assert "\n" not in message and "\t" not in message
    assert f"{tmp_path}/0001_c1_\\xff\\xfe.jpg cannot be decoded" in message
    assert f"{tmp_path}/0002_c1_a\\nb.jpg cannot be decoded" in message
    rows = [line.split("\t") for line in report_path(tmp_path / "run", "src").read_text(encoding="utf-8").splitlines()]
    assert [len(row) for row in rows] == [2, 2, 2, 2]  # header + one row per file, two fields each
    assert [row[0] for row in rows[1:]] == [
        f"{tmp_path}/0001_c1_\\xff\\xfe.jpg",
        f"{tmp_path}/0002_c1_a\\nb.jpg",
        f"{tmp_path}/0003_c1_a\\tb.jpg",
    ]

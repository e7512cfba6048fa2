"""read_market: Market-1501 naming rules and one-line errors naming the culprit."""

from __future__ import annotations

from pathlib import Path

import pytest

from reidkit.adapters.data.market import read_market
from reidkit.domain.errors import DatasetError
from tests.support.market_folders import market_layout


def _standard(root: Path) -> Path:
    return market_layout(
        root,
        {
            "bounding_box_train": [
                "0015_c2s1_000001_00.jpg",
                "0007_c1s1_000002_00.jpg",
                "0007_c3s1_000003_00.png",
                "-1_c1s1_000004_00.jpg",
                "0002_c1s1_000005_00.jpg",
                "Thumbs.db",
            ],
            "query": ["0100_c1s1_000001_00.jpg", "-1_c2s1_000001_00.jpg", "0101_c2s1_000001_00.jpg"],
            "bounding_box_test": [
                "0100_c2s1_000002_00.jpg",
                "0000_c1s1_000009_00.jpg",
                "-1_c1s1_000003_00.jpg",
                "0101_c1s1_000004_00.jpg",
            ],
        },
    )


def test_train_pids_are_relabelled_in_sorted_order_of_the_original_pid(tmp_path: Path) -> None:
    dataset = read_market(_standard(tmp_path / "m"))
    by_name = {Path(r.path).name: r.pid for r in dataset.train}
    assert by_name == {
        "0002_c1s1_000005_00.jpg": 0,
        "0007_c1s1_000002_00.jpg": 1,
        "0007_c3s1_000003_00.png": 1,
        "0015_c2s1_000001_00.jpg": 2,
    }
    assert dataset.num_train_pids == 3


def test_junk_is_dropped_everywhere_and_distractors_stay_in_the_gallery(tmp_path: Path) -> None:
    dataset = read_market(_standard(tmp_path / "m"))
    for split in (dataset.train, dataset.query, dataset.gallery):
        assert all(r.pid != -1 for r in split)
    assert sorted(r.pid for r in dataset.query) == [100, 101]  # raw pids
    assert sorted(r.pid for r in dataset.gallery) == [0, 100, 101]


def test_camids_are_zero_based_records_sorted_and_tagged_with_the_domain(tmp_path: Path) -> None:
    dataset = read_market(_standard(tmp_path / "m"), domain="market")
    names = [Path(r.path).name for r in dataset.gallery]
    assert names == sorted(names)
    assert [r.camid for r in dataset.gallery] == [0, 1, 0]  # 0000_c1, 0100_c2, 0101_c1
    assert {r.domain for r in (*dataset.train, *dataset.query, *dataset.gallery)} == {"market"}
    assert dataset.name == "market"
    assert all(Path(r.path).is_absolute() and Path(r.path).exists() for r in dataset.train)


def test_only_the_file_name_is_parsed_not_the_folders_above_it(tmp_path: Path) -> None:
    root = market_layout(
        tmp_path / "exp_7_c2" / "run_3_c4",
        {
            "bounding_box_train": ["0002_c3s1_000001_00.jpg", "0005_c1s1_000001_00.jpg"],
            "query": ["0010_c3s1_000001_00.jpg"],
            "bounding_box_test": ["0010_c1s1_000001_00.jpg"],
        },
    )
    dataset = read_market(root)
    assert [(r.pid, r.camid) for r in dataset.query] == [(10, 2)]
    assert [(r.pid, r.camid) for r in dataset.gallery] == [(10, 0)]
    assert [r.camid for r in dataset.train] == [2, 0]


def test_multi_digit_camera_ids_are_read_whole(tmp_path: Path) -> None:
    root = market_layout(
        tmp_path / "m",
        {
            "bounding_box_train": ["0002_c12s1_000451_00.jpg"],
            "query": ["0003_c10s1_000001_00.jpg"],
            "bounding_box_test": ["0003_c1s1_000001_00.jpg"],
        },
    )
    dataset = read_market(root)
    assert dataset.train[0].camid == 11
    assert dataset.query[0].camid == 9
    assert dataset.num_cameras == 3


def test_missing_root_names_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="nowhere.*does not exist"):
        read_market(tmp_path / "nowhere")


def test_missing_split_folder_names_it(tmp_path: Path) -> None:
    root = _standard(tmp_path / "m")
    for f in (root / "query").iterdir():
        f.unlink()
    (root / "query").rmdir()
    with pytest.raises(DatasetError, match=r"query does not exist"):
        read_market(root)


def test_file_name_that_does_not_match_is_named(tmp_path: Path) -> None:
    root = _standard(tmp_path / "m")
    (root / "bounding_box_test" / "person_a_cam1.jpg").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"'person_a_cam1\.jpg'.*bounding_box_test") as error:
        read_market(root)
    assert "\n" not in str(error.value)


def test_camera_zero_is_refused(tmp_path: Path) -> None:
    root = _standard(tmp_path / "m")
    (root / "query" / "0100_c0s1_000001_00.jpg").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"0100_c0s1_000001_00\.jpg.*camera 0"):
        read_market(root)


def test_split_with_only_junk_is_empty(tmp_path: Path) -> None:
    root = market_layout(
        tmp_path / "m",
        {
            "bounding_box_train": ["-1_c1s1_000001_00.jpg"],
            "query": ["0003_c1s1_000001_00.jpg"],
            "bounding_box_test": ["0003_c2s1_000001_00.jpg"],
        },
    )
    with pytest.raises(DatasetError, match=r"bounding_box_train holds no usable images"):
        read_market(root)


def test_query_without_any_gallery_identity_is_refused(tmp_path: Path) -> None:
    root = market_layout(
        tmp_path / "m",
        {
            "bounding_box_train": ["0001_c1s1_000001_00.jpg"],
            "query": ["0003_c1s1_000001_00.jpg"],
            "bounding_box_test": ["0004_c2s1_000001_00.jpg", "0000_c1s1_000001_00.jpg"],
        },
    )
    with pytest.raises(DatasetError, match=r"no query identity of .*query appears in .*bounding_box_test"):
        read_market(root)

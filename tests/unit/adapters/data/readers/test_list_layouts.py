"""MSMT17 and VehicleID: list files naming images under split folders."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from reidkit.adapters.data.readers import dataset_reader
from reidkit.domain.errors import DatasetError
from tests.support.dataset_trees import msmt17_tree, named_splits, vehicleid_tree


def _read(name: str, root: Path, **options: object):
    reader = dataset_reader(name)
    return reader.read(root, domain=name, options=reader.options(**options))


# MSMT17 -----------------------------------------------------------------------------------------

LISTS = {
    "train": [("0000/0000_000_01_0303morning_0015_0.jpg", 0), ("0000/0000_001_12_0303noon_0016_0.JPG", 0),
              ("0001/0001_000_15_0303morning_0017_0.png", 1)],
    "val": [("0001/0001_001_03_0303afternoon_0001_0.jpg", 1), ("0002/0002_000_04_0303morning_0002_0.jpg", 2)],
    "query": [("0000/0000_000_01_0303morning_0008_0.jpg", 0), ("0005/0005_000_14_0303morning_0008_0.jpg", 5)],
    "gallery": [("0000/0000_001_02_0303morning_0009_0.jpg", 0), ("0005/0005_001_10_0303morning_0009_0.jpg", 5)],
}


@pytest.mark.parametrize(("version", "folders"), [("V1", ("train", "test")), ("V2", ("mask_train_v2", "mask_test_v2"))])
def test_msmt17_v1_and_v2_read_lists_with_two_digit_cameras(tmp_path: Path, version: str, folders) -> None:
    msmt17_tree(tmp_path / "exp_7_c2" / f"MSMT17_{version}", version, LISTS)
    data = _read("msmt17", tmp_path / "exp_7_c2")
    assert [(r.pid, r.camid) for r in data.train] == [(0, 0), (0, 11), (1, 14)]
    assert [(r.pid, r.camid) for r in data.query] == [(0, 0), (5, 13)]
    assert [(r.pid, r.camid) for r in data.gallery] == [(0, 1), (5, 9)]
    assert f"/{folders[0]}/0000/" in data.train[0].path and f"/{folders[1]}/" in data.query[0].path


def test_msmt17_combineall_adds_the_val_list_to_train_only(tmp_path: Path) -> None:
    root = msmt17_tree(tmp_path / "MSMT17_V1", "V1", LISTS)
    data = _read("msmt17", root, combineall=True)
    assert len(data.train) == 5 and data.num_train_pids == 3
    assert len(data.query) == 2 and len(data.gallery) == 2
    assert len(_read("msmt17", root).train) == 3


def test_msmt17_a_listed_image_that_is_missing_is_named_with_its_line(tmp_path: Path) -> None:
    root = msmt17_tree(tmp_path / "MSMT17_V1", "V1", LISTS)
    (root / "test" / "0005" / "0005_001_10_0303morning_0009_0.jpg").unlink()
    with pytest.raises(DatasetError, match=r"list_gallery\.txt line 2: .*test/0005/0005_001_10_0303morning_0009_0\.jpg "
                       r"does not exist$") as error:
        _read("msmt17", root)
    assert "\n" not in str(error.value)


def test_msmt17_a_malformed_line_is_named(tmp_path: Path) -> None:
    root = msmt17_tree(tmp_path / "m", "V1", LISTS)
    (root / "list_query.txt").write_text("0000/0000_000_01_0303morning_0008_0.jpg zero\n")
    with pytest.raises(DatasetError, match=r"list_query\.txt line 1: pid 'zero' is not an integer"):
        _read("msmt17", root)


def test_msmt17_given_a_market_root_names_its_layout(tmp_path: Path) -> None:
    root = named_splits(tmp_path / "Market", {s: ["0001_c1s1_000001_00.jpg"] for s in
                                               ("bounding_box_train", "query", "bounding_box_test")})
    with pytest.raises(DatasetError, match=r"does not have the MSMT17 layout \(it holds bounding_box_test/, bounding_box_train/, "
                       r"query/\); expected list_train\.txt, list_val\.txt"):
        _read("msmt17", root)


# VehicleID --------------------------------------------------------------------------------------

def _vehicleid(root: Path, **kwargs) -> Path:
    train = [("0000001", 5), ("0000002", 5), ("0000003", 9)]
    test = [(f"{100 + i:07d}", 20 + i % 3) for i in range(9)]  # 3 vehicles, 3 images each
    return vehicleid_tree(root, train, {800: test, 1600: test + [("0000200", 40), ("0000201", 40)]}, **kwargs)


def test_vehicleid_one_gallery_image_per_vehicle_and_no_camera_filtering(tmp_path: Path) -> None:
    _vehicleid(tmp_path / "exp_1_c1" / "VehicleID_V1.0", extension=".JPG")
    data = _read("vehicleid", tmp_path / "exp_1_c1")
    assert sorted(r.pid for r in data.train) == [0, 0, 1] and {r.camid for r in data.train} == {0}
    assert Counter(r.pid for r in data.gallery) == {20: 1, 21: 1, 22: 1}
    assert Counter(r.pid for r in data.query) == {20: 2, 21: 2, 22: 2}
    assert {r.camid for r in data.query} == {0} and {r.camid for r in data.gallery} == {1}
    from reidkit.adapters.data.market import queries_without_a_match

    assert queries_without_a_match(data.query, data.gallery) == []


def test_vehicleid_a_trial_is_the_same_split_every_time_and_trials_differ(tmp_path: Path) -> None:
    root = _vehicleid(tmp_path / "v")
    first = [_read("vehicleid", root, trial=t).gallery for t in range(6)]
    assert first[0] == _read("vehicleid", root, trial=0).gallery
    assert len({tuple(r.path for r in g) for g in first}) > 1


def test_vehicleid_test_size_picks_the_list(tmp_path: Path) -> None:
    data = _read("vehicleid", _vehicleid(tmp_path / "v"), test_size=1600)
    assert sorted({r.pid for r in data.gallery}) == [20, 21, 22, 40]
    with pytest.raises(DatasetError, match=r"test_list_2400\.txt does not exist \(test_size = 2400\)"):
        _read("vehicleid", tmp_path / "v", test_size=2400)


def test_vehicleid_a_listed_image_that_is_missing_is_named_with_its_line(tmp_path: Path) -> None:
    root = _vehicleid(tmp_path / "v", missing=["0000104"])
    with pytest.raises(DatasetError, match=r"test_list_800\.txt line 5: image .*image/0000104\.jpg does not exist$"):
        _read("vehicleid", root)


def test_vehicleid_given_a_veri_root_names_its_layout(tmp_path: Path) -> None:
    root = named_splits(tmp_path / "VeRi", {"image_train": ["0001_c001_00016450_0.jpg"]})
    with pytest.raises(DatasetError, match=r"does not have the VehicleID layout \(it holds image_train/\); expected image/ and "
                       r"train_test_split/"):
        _read("vehicleid", root)

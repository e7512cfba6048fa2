"""Market, DukeMTMC-reID, PersonX, VeRi-776 and VehicleX: folders of '<pid>_c<camera>...' names."""

from __future__ import annotations

from pathlib import Path

import pytest

from reidkit.adapters.data.readers import dataset_reader
from reidkit.domain.errors import DatasetError
from tests.support.dataset_trees import IMAGE_READERS, msmt17_tree, named_splits

MARKET = ("bounding_box_train", "query", "bounding_box_test")
VERI = ("image_train", "image_query", "image_test")


def _read(name: str, root: Path, **options: object):
    reader = dataset_reader(name)
    return reader.read(root, domain=name, options=reader.options(**options) if options else None)


def _one_line(error: pytest.ExceptionInfo[DatasetError]) -> str:
    text = str(error.value)
    assert "\n" not in text
    return text


# Market -----------------------------------------------------------------------------------------

def _market(root: Path) -> Path:
    return named_splits(root, {
        "bounding_box_train": ["0015_c2s1_000001_00.jpg", "0007_c1s1_000002_00.JPG", "0007_c3s1_000003_00.png",
                               "-1_c1s1_000004_00.jpg", "notes.txt"],
        "query": ["0100_c1s1_000001_00.jpg", "-1_c2s1_000001_00.jpg"],
        "bounding_box_test": ["0100_c2s1_000002_00.jpg", "0000_c1s1_000009_00.jpg", "-1_c1s1_000003_00.jpg"],
    })


def test_market_reads_the_archive_folder_inside_the_root_and_ignores_a_misleading_parent(tmp_path: Path) -> None:
    root = tmp_path / "exp_7_c2"
    _market(root / "Market-1501-v15.09.15")
    data = _read("market", root)
    assert sorted((r.pid, r.camid) for r in data.train) == [(0, 0), (0, 2), (1, 1)]  # 0007 -> 0, 0015 -> 1
    assert [(r.pid, r.camid) for r in data.query] == [(100, 0)]
    assert sorted(r.pid for r in data.gallery) == [0, 100]  # junk dropped, distractor kept


def test_market_with_500k_distractors_adds_them_to_the_gallery_as_pid_0(tmp_path: Path) -> None:
    root = _market(tmp_path / "m")
    named_splits(root, {"images": ["00000001_c3s2_000001_00.jpg", "x.png", "readme.md"]})
    data = _read("market", root, distractors_500k=True)
    assert len(data.gallery) == 2 + 2
    assert sorted((r.pid, r.camid) for r in data.gallery[2:]) == [(0, 0), (0, 2)]
    assert len(_read("market", root).gallery) == 2


def test_market_500k_without_the_images_folder_names_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"distractors_500k is on but .*images does not exist") as error:
        _read("market", _market(tmp_path / "m"), distractors_500k=True)
    _one_line(error)


def test_market_given_an_msmt17_root_says_the_layout_is_not_markets(tmp_path: Path) -> None:
    root = msmt17_tree(tmp_path / "MSMT17_V1", "V1", {"train": [("0000/0000_000_01_x_0001_0.jpg", 0)]})
    with pytest.raises(DatasetError, match=r"does not have the Market-1501 layout \(it holds list_gallery\.txt.*train/.*\); "
                       r"expected bounding_box_train/, query/ and bounding_box_test/") as error:
        _read("market", root)
    assert "does not exist" not in _one_line(error)


# DukeMTMC-reID ----------------------------------------------------------------------------------

def _duke(root: Path) -> Path:
    return named_splits(root, {
        "bounding_box_train": ["0005_c2_f0046985.jpg", "0005_c8_f0046986.jpg", "0001_c1_f0000001.JPG"],
        "query": ["0010_c5_f0051781.jpg"],
        "bounding_box_test": ["0010_c6_f0044158.jpg", "7000_c1_f0000001.jpg"],
    })


def test_duke_reads_its_archive_folder_with_cameras_1_to_8(tmp_path: Path) -> None:
    _duke(tmp_path / "exp_3_c4" / "DukeMTMC-reID")
    data = _read("dukemtmc", tmp_path / "exp_3_c4")
    assert sorted((r.pid, r.camid) for r in data.train) == [(0, 0), (1, 1), (1, 7)]
    assert [(r.pid, r.camid) for r in data.query] == [(10, 4)]
    assert sorted(r.pid for r in data.gallery) == [10, 7000]  # a distractor identity stays
    assert data.name == "dukemtmc"


def test_duke_refuses_a_market_tree_by_its_names(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"'-?\d+_c\ds1_\d+_00\.(jpg|JPG|png)' is not a DukeMTMC-reID name \(like "
                       r"0005_c2_f0046985\.jpg\) in .*bounding_box_train") as error:
        _read("dukemtmc", _market(tmp_path / "m"))
    _one_line(error)


def test_duke_refuses_a_camera_past_8(tmp_path: Path) -> None:
    root = _duke(tmp_path / "d")
    named_splits(root, {"query": ["0010_c9_f0000002.jpg"]})
    with pytest.raises(DatasetError, match=r"camera 9, not one of DukeMTMC-reID's 1\.\.8"):
        _read("dukemtmc", root)


def test_duke_given_a_veri_root_names_its_layout(tmp_path: Path) -> None:
    root = named_splits(tmp_path / "VeRi", {s: ["0001_c001_00016450_0.jpg"] for s in VERI})
    with pytest.raises(DatasetError, match=r"does not have the DukeMTMC-reID layout \(it holds image_query/, image_test/, "
                       r"image_train/\); expected bounding_box_train/"):
        _read("dukemtmc", root)


# PersonX ----------------------------------------------------------------------------------------

def test_personx_reads_subset1_with_two_digit_cameras(tmp_path: Path) -> None:
    named_splits(tmp_path / "personx" / "subset1", {
        "bounding_box_train": ["0001_c3_0001.jpg", "0001_c12_0002.png"],
        "query": ["0500_c10_0001.jpg", "-1_c3_0009.jpg"],
        "bounding_box_test": ["0500_c11_0002.jpg", "0500_c10_0003.jpg"],
    })
    data = _read("personx", tmp_path / "personx")
    assert sorted(r.camid for r in data.train) == [2, 11]
    assert [(r.pid, r.camid) for r in data.query] == [(500, 9)]
    assert data.num_cameras == 4


# VeRi-776 ---------------------------------------------------------------------------------------

def _veri(root: Path) -> Path:
    return named_splits(root, {
        "image_train": ["0001_c001_00016450_0.jpg", "0001_c012_00016460_0.jpg", "0003_c020_00000001_1.jpg"],
        "image_query": ["0002_c002_00030600_0.jpg"],
        "image_test": ["0002_c003_00084280_1.jpg", "0002_c002_00030601_0.jpg", "-1_c003_00000001_0.jpg"],
    })


def test_veri_reads_three_digit_cameras_and_keeps_test_pids(tmp_path: Path) -> None:
    data = _read("veri", _veri(tmp_path / "VeRi"))
    assert sorted((r.pid, r.camid) for r in data.train) == [(0, 0), (0, 11), (1, 19)]
    assert sorted((r.pid, r.camid) for r in data.gallery) == [(2, 1), (2, 2)]
    assert data.num_cameras == 5  # c001, c012, c020, c002, c003


def test_veri_refuses_a_camera_past_20_and_names_the_file(tmp_path: Path) -> None:
    root = _veri(tmp_path / "v")
    named_splits(root, {"image_test": ["0002_c021_00000001_0.jpg"]})
    with pytest.raises(DatasetError, match=r"0002_c021_00000001_0\.jpg.*camera 21, not one of VeRi-776's 1\.\.20"):
        _read("veri", root)


def test_veri_given_a_market_root_names_its_layout(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"does not have the VeRi-776 layout.*expected image_train/, image_query/ and image_test/"):
        _read("veri", _market(tmp_path / "m"))


# VehicleX ---------------------------------------------------------------------------------------

def test_vehiclex_is_train_only(tmp_path: Path) -> None:
    named_splits(tmp_path / "AIC20_ReID_Simulation", {
        "image_train": ["0001_c006_00000001.jpg", "0001_c036_00000002.jpg", "1362_c010_00000003.jpg", "Thumbs.db"],
    })
    data = _read("vehiclex", tmp_path)
    assert data.query == () and data.gallery == ()
    assert sorted((r.pid, r.camid) for r in data.train) == [(0, 5), (0, 35), (1, 9)]


def test_vehiclex_given_a_duke_root_names_its_layout(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"does not have the VehicleX layout.*expected image_train/"):
        _read("vehiclex", _duke(tmp_path / "d"))


def test_personx_given_a_veri_root_names_its_layout(tmp_path: Path) -> None:
    root = _veri(tmp_path / "v")
    with pytest.raises(DatasetError, match=r"does not have the PersonX layout \(it holds image_query/, image_test/, "
                       r"image_train/\); expected bounding_box_train/"):
        _read("personx", root)


def test_vehiclex_drops_junk_and_names_a_foreign_file_name(tmp_path: Path) -> None:
    root = named_splits(tmp_path / "x", {"image_train": ["0001_c006_00000001.jpg", "-1_c006_00000002.jpg"]})
    assert [r.pid for r in _read("vehiclex", root).train] == [0]
    named_splits(root, {"image_train": ["car_0003.jpg"]})
    with pytest.raises(DatasetError, match=r"'car_0003\.jpg' is not a VehicleX name \(like 0001_c006_00000001\.jpg\)"):
        _read("vehiclex", root)


@pytest.mark.parametrize("name", IMAGE_READERS)
def test_a_missing_root_is_one_line_naming_the_expected_layout(tmp_path: Path, name: str) -> None:
    with pytest.raises(DatasetError, match=r"nowhere.* does not exist.*; expected ") as error:
        _read(name, tmp_path / "nowhere")
    _one_line(error)


@pytest.mark.parametrize("name", [n for n in IMAGE_READERS if n not in ("unlabelled", "manifest")])
def test_an_empty_root_names_the_expected_layout(tmp_path: Path, name: str) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"empty does not have the .* layout \(it holds nothing\); expected ") as error:
        _read(name, tmp_path / "empty")
    _one_line(error)

"""CUHK03: the new 767/700 protocol from its config .mat, the classic 20 splits, and extraction of
the images from the HDF5 cuhk-03.mat (h5py, fabricated here at a tiny size)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from reidkit.adapters.data.readers import dataset_reader
from reidkit.domain.errors import DatasetError
from tests.support.dataset_trees import cuhk03_config, cuhk03_mat, named_splits, write_names

READER = dataset_reader("cuhk03")


def _read(root: Path, **options: object):
    return READER.read(root, domain="cuhk03", options=READER.options(**options))


FILES = ["1_001_1_01.png", "1_001_2_06.png", "1_002_1_01.png", "1_002_2_07.png",  # train: pair 1 persons 1, 2
         "2_001_1_01.png", "2_001_2_06.png", "2_001_2_08.png",                     # test: pair 2 person 1
         "3_004_1_02.png", "3_004_2_10.png"]                                       # test: pair 3 person 4
LABELS = [1, 1, 2, 2, 844, 844, 844, 1287, 1287]


def _new(root: Path, boxes: str = "detected") -> Path:
    write_names(root / f"images_{boxes}", FILES)
    cuhk03_config(root / f"cuhk03_new_protocol_config_{boxes}.mat", FILES, LABELS,
                  train=[1, 2, 3, 4], query=[5, 8], gallery=[6, 7, 9])
    return root


def test_new_protocol_reads_the_config_with_raw_test_labels_and_view_cameras(tmp_path: Path) -> None:
    data = _read(_new(tmp_path / "exp_7_c2"))
    assert [(Path(r.path).name, r.pid, r.camid) for r in data.train] == [
        ("1_001_1_01.png", 0, 0), ("1_001_2_06.png", 0, 1), ("1_002_1_01.png", 1, 0), ("1_002_2_07.png", 1, 1)]
    assert [(r.pid, r.camid) for r in data.query] == [(844, 0), (1287, 0)]
    assert [(r.pid, r.camid) for r in data.gallery] == [(844, 1), (844, 1), (1287, 1)]


def test_new_protocol_labeled_boxes_read_their_own_folder_and_config(tmp_path: Path) -> None:
    data = _read(_new(tmp_path / "c", "labeled"), boxes="labeled")
    assert "/images_labeled/" in data.train[0].path
    with pytest.raises(DatasetError, match=r"neither .*images_detected nor .*cuhk-03\.mat exists"):
        _read(tmp_path / "c")


def test_new_protocol_an_entry_naming_a_missing_image_is_named(tmp_path: Path) -> None:
    root = _new(tmp_path / "c")
    (root / "images_detected" / "2_001_2_08.png").unlink()
    with pytest.raises(DatasetError, match=r"config_detected\.mat: filelist entry 7 names .*images_detected/2_001_2_08\.png, "
                       r"which does not exist$"):
        _read(root)


def test_new_protocol_without_its_config_names_it(tmp_path: Path) -> None:
    root = _new(tmp_path / "c")
    (root / "cuhk03_new_protocol_config_detected.mat").unlink()
    with pytest.raises(DatasetError, match=r"new protocol needs .*cuhk03_new_protocol_config_detected\.mat"):
        _read(root)


def test_new_protocol_has_one_split(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"new protocol has 1 split\(s\): split_id 1 is not 0\.\.0"):
        _read(_new(tmp_path / "c"), split_id=1)


def test_a_market_root_names_the_cuhk03_layout(tmp_path: Path) -> None:
    root = named_splits(tmp_path / "m", {"bounding_box_train": ["0001_c1s1_000001_00.jpg"]})
    with pytest.raises(DatasetError, match=r"CUHK03 layout \(it holds bounding_box_train/\); expected cuhk03_release/cuhk-03\.mat"):
        _read(root)


def _image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(6, 4, 3), dtype=np.uint8)


def _mat(root: Path) -> Path:
    # pair 1: persons 1, 2, 3; pair 2: person 1. Cells 0..4 are view 1, 5..9 view 2; None = empty.
    def person(seed: int, cells: list[int]) -> list[object]:
        return [_image(seed * 10 + c) if c in cells else None for c in range(10)]

    detected = [[person(1, [0, 1, 5]), person(2, [0, 6, 7]), person(3, [2, 9])], [person(4, [0, 5])]]
    labeled = [[person(5, [0, 5]), person(6, [0, 5]), person(7, [0, 5])], [person(8, [1, 5])]]
    (root / "cuhk03_release").mkdir(parents=True)
    testsets = [[(1, 2), (2, 1)]] + [[(1, 1), (1, 3)]] * 19
    return cuhk03_mat(root / "cuhk03_release" / "cuhk-03.mat", {"detected": detected, "labeled": labeled}, testsets)


def test_classic_protocol_extracts_the_mat_once_and_reads_a_split(tmp_path: Path) -> None:
    pytest.importorskip("h5py")
    root = tmp_path / "cuhk03"
    _mat(root)
    data = _read(root, protocol="classic", split_id=0)
    names = sorted(p.name for p in (root / "images_detected").iterdir())
    assert names == ["1_001_1_01.png", "1_001_1_02.png", "1_001_2_06.png", "1_002_1_01.png", "1_002_2_07.png",
                     "1_002_2_08.png", "1_003_1_03.png", "1_003_2_10.png", "2_001_1_01.png", "2_001_2_06.png"]
    assert json.loads((root / "cuhk03_classic_testsets.json").read_text())[0] == [[1, 2], [2, 1]]
    # identities 1..4 in (pair, pid) order: (1,1) (1,2) (1,3) (2,1); split 0 tests (1,2) and (2,1)
    assert sorted({r.pid for r in data.query}) == [2, 4] and data.query == data.gallery
    assert sorted((Path(r.path).name, r.pid, r.camid) for r in data.train) == [
        ("1_001_1_01.png", 0, 0), ("1_001_1_02.png", 0, 0), ("1_001_2_06.png", 0, 1),
        ("1_003_1_03.png", 1, 0), ("1_003_2_10.png", 1, 1)]
    other = _read(root, protocol="classic", split_id=19)
    assert sorted({r.pid for r in other.query}) == [1, 3]
    assert not list(root.glob(".images_*"))  # no scratch folder left


def test_extracted_images_are_pngs_of_the_mat_pixels(tmp_path: Path) -> None:
    pytest.importorskip("h5py")
    from PIL import Image

    root = tmp_path / "cuhk03"
    _mat(root)
    _read(root, protocol="classic", boxes="labeled")
    with Image.open(root / "images_labeled" / "2_001_1_02.png") as image:
        assert np.array_equal(np.asarray(image), _image(81))
    assert not (root / "images_detected").exists()


def test_without_h5py_the_error_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "cuhk03"
    (root / "cuhk03_release").mkdir(parents=True)
    (root / "cuhk03_release" / "cuhk-03.mat").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(DatasetError, match=r"CUHK03 needs h5py to extract the detected images from cuhk-03\.mat .*: "
                       r"pip install h5py$"):
        _read(root)


def test_classic_split_naming_a_person_without_images_is_named(tmp_path: Path) -> None:
    root = tmp_path / "c"
    write_names(root / "images_detected", ["1_001_1_01.png", "1_001_2_06.png"])
    (root / "cuhk03_classic_testsets.json").write_text(json.dumps([[[1, 7]]] * 20))
    with pytest.raises(DatasetError, match=r"classic split 0 names pair 1 person 7, who has no image"):
        _read(root, protocol="classic")

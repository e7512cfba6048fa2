"""CUHK02 and QMUL-iLIDS: the published statistics on trees of their official size, the split
protocol, and the awkward cases of their archives."""

from __future__ import annotations

from pathlib import Path

import pytest

from reidkit.adapters.data.readers import dataset_reader
from reidkit.domain.errors import DatasetError
from tests.support.dataset_trees import touch

CUHK02_PERSONS = {"P1": 971, "P2": 306, "P3": 107, "P4": 193, "P5": 239}


def cuhk02_tree(root: Path, persons: dict[str, int] = CUHK02_PERSONS) -> Path:
    """Two images of every person in each camera of its pair, numbered from 1 in every pair."""
    for pair, count in persons.items():
        for camera, numbers in (("cam1", (1, 2)), ("cam2", (3, 4))):
            for person in range(1, count + 1):
                for n in numbers:
                    touch(root / "Dataset" / pair / camera / f"{person:04d}_{n}.png")
    return root


# QMUL-iLIDS: 119 persons, 476 images: four each (the real archive has 2 to 8, 476 in all)
ILIDS_COUNTS = [4] * 119


def ilids_tree(root: Path, counts: list[int] = ILIDS_COUNTS) -> Path:
    folder = root / "i-LIDS_Pedestrian" / "Persons"
    for person, count in enumerate(counts, start=1):
        for n in range(1, count + 1):
            touch(folder / f"{person:04d}{n:03d}.jpg")
    return folder


def _read(name: str, root: Path, **options: object):
    reader = dataset_reader(name)
    return reader.read(root, domain=name, options=reader.options(**options) if reader.options else None)


def test_cuhk02_reports_the_published_statistics_with_pairs_kept_apart(tmp_path: Path) -> None:
    data = _read("cuhk02", cuhk02_tree(tmp_path / "cuhk02"))
    assert data.summary() == {
        "train_ids": 971 + 306 + 107 + 193, "train_images": 4 * 1577, "query_ids": 239, "query_images": 478,
        "gallery_ids": 239, "gallery_images": 478, "cameras": 10,
    }  # fmt: skip
    # person 1 of P1 and person 1 of P2 are different people
    firsts = {r.pid for r in data.train if r.path.endswith("0001_1.png")}
    assert len(firsts) == 4
    assert {r.camid for r in data.query} == {8} and {r.camid for r in data.gallery} == {9}


def test_cuhk02_a_missing_camera_folder_and_a_foreign_name_are_one_line(tmp_path: Path) -> None:
    root = cuhk02_tree(tmp_path / "c", {p: 2 for p in CUHK02_PERSONS})
    touch(root / "Dataset" / "P3" / "cam1" / "notes_1.png")
    with pytest.raises(DatasetError, match=r"file name 'notes_1.png' in .*P3/cam1 is not a CUHK02 name \(like 0001_1.png\)"):
        _read("cuhk02", root)
    (root / "Dataset" / "P3" / "cam1" / "notes_1.png").unlink()
    for path in (root / "Dataset" / "P4" / "cam2").iterdir():
        path.unlink()
    (root / "Dataset" / "P4" / "cam2").rmdir()
    with pytest.raises(DatasetError, match="CUHK02 pair P4 has no cam2/ folder"):
        _read("cuhk02", root)


def test_a_market_root_is_not_cuhk02_or_ilids(tmp_path: Path) -> None:
    for folder in ("bounding_box_train", "query", "bounding_box_test"):
        touch(tmp_path / "m" / folder / "0001_c1s1_000001_00.jpg")
    with pytest.raises(DatasetError, match="does not have the CUHK02 layout"):
        _read("cuhk02", tmp_path / "m")
    with pytest.raises(DatasetError, match="does not have the QMUL-iLIDS layout"):
        _read("ilids", tmp_path / "m")


def test_ilids_reports_the_published_statistics_on_every_split(tmp_path: Path) -> None:
    ilids_tree(tmp_path / "ilids")
    trains = set()
    for split in range(10):
        data = _read("ilids", tmp_path / "ilids", split_id=split)
        summary = data.summary()
        assert (summary["train_ids"], summary["train_images"]) == (59, 4 * 59)
        assert (summary["query_ids"], summary["query_images"], summary["gallery_ids"], summary["gallery_images"]) == (60, 60, 60, 60)
        assert {r.pid for r in data.query} == {r.pid for r in data.gallery}
        assert not {r.path for r in data.query} & {r.path for r in data.gallery}
        assert {r.camid for r in data.query} == {0} and {r.camid for r in data.gallery} == {1}
        trains.add(frozenset(r.path for r in data.train))
    assert len(trains) == 10
    again = _read("ilids", tmp_path / "ilids", split_id=3)
    assert again == _read("ilids", tmp_path / "ilids", split_id=3)  # the same draw every time
    with pytest.raises(ValueError):
        dataset_reader("ilids").options(split_id=10)


def test_ilids_a_person_with_one_image_is_named(tmp_path: Path) -> None:
    ilids_tree(tmp_path / "i", [2, 2, 1, 2])
    with pytest.raises(DatasetError, match="QMUL-iLIDS person 3 has one image in .*Persons; every person needs two"):
        _read("ilids", tmp_path / "i")

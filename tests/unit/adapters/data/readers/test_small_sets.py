"""The smaller Torchreid sets: VIPeR, GRID, CUHK01, PRID single-shot, SenseReID, CUHK-SYSU and
University-1652, at their official sizes, with their split protocols and awkward cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from reidkit.adapters.data.readers import dataset_reader
from reidkit.domain.errors import DatasetError
from tests.support.dataset_trees import (
    SMALL_OFFICIAL,
    named_splits,
    official_cuhk01,
    official_cuhksysu,
    official_grid,
    official_prid,
    official_sensereid,
    official_university1652,
    official_viper,
    touch,
)

BUILD = {
    "viper": lambda root: official_viper(root / "VIPeR"),
    "grid": lambda root: official_grid(root / "underground_reid"),
    "cuhk01": lambda root: official_cuhk01(root),
    "prid": lambda root: official_prid(root / "prid_2011"),
    "sensereid": lambda root: official_sensereid(root / "SenseReID"),
    "cuhksysu": lambda root: official_cuhksysu(root / "cuhksysu"),
    "university1652": lambda root: official_university1652(root / "University-Release"),
}
SPLIT_IDS = {"viper": 20, "grid": 10, "cuhk01": 20, "prid": 10}


def _read(name: str, root: Path, **options: object):
    reader = dataset_reader(name)
    return reader.read(root, domain=name, options=reader.options(**options) if reader.options else None)


@pytest.mark.parametrize(
    "name", [n if n not in ("cuhksysu", "university1652") else pytest.param(n, marks=pytest.mark.slow) for n in BUILD]
)
def test_the_reader_reports_the_published_statistics(tmp_path: Path, name: str) -> None:
    root = BUILD[name](tmp_path / "exp_7_c2") and tmp_path / "exp_7_c2"
    assert _read(name, root).summary() == SMALL_OFFICIAL[name]


@pytest.mark.parametrize("name", sorted(SPLIT_IDS))
def test_every_split_has_the_official_size_and_the_splits_differ(tmp_path: Path, name: str) -> None:
    BUILD[name](tmp_path)
    trains = set()
    for split_id in range(SPLIT_IDS[name]):
        data = _read(name, tmp_path, split_id=split_id)
        assert data.summary() == SMALL_OFFICIAL[name]
        trains.add(frozenset(r.path for r in data.train))
    two_ways = name in ("viper", "cuhk01")  # splits 2k and 2k+1 share a training half, queries swapped
    assert len(trains) == SPLIT_IDS[name] // (2 if two_ways else 1)
    with pytest.raises(ValueError):
        dataset_reader(name).options(split_id=SPLIT_IDS[name])


def test_viper_and_cuhk01_odd_splits_swap_query_and_gallery(tmp_path: Path) -> None:
    official_viper(tmp_path / "v")
    even, odd = _read("viper", tmp_path / "v", split_id=4), _read("viper", tmp_path / "v", split_id=5)
    assert even.train == odd.train and even.query == odd.gallery and even.gallery == odd.query
    assert {r.camid for r in even.query} == {0} and {r.camid for r in odd.query} == {1}


def test_a_split_is_the_same_every_time(tmp_path: Path) -> None:
    official_prid(tmp_path / "p")
    assert _read("prid", tmp_path / "p", split_id=3) == _read("prid", tmp_path / "p", split_id=3)


def test_grid_distractors_are_pid_0_in_the_gallery_and_cameras_are_1_to_8(tmp_path: Path) -> None:
    official_grid(tmp_path / "g")
    data = _read("grid", tmp_path / "g")
    assert sum(r.pid == 0 for r in data.gallery) == 775 and all(r.pid for r in data.query)
    touch(tmp_path / "g" / "probe" / "0001_9_1_1_1_1.jpeg")
    with pytest.raises(DatasetError, match=r"'0001_9_1_1_1_1\.jpeg' is not a GRID name .*camera 1\.\.8"):
        _read("grid", tmp_path / "g")


def test_viper_a_person_without_a_partner_image_is_named(tmp_path: Path) -> None:
    official_viper(tmp_path / "v")
    (tmp_path / "v" / "cam_b" / "007_77.bmp").unlink()
    with pytest.raises(DatasetError, match=r"VIPeR person 7 has no image in .*cam_b"):
        _read("viper", tmp_path / "v")


def test_prid_a_second_image_of_a_person_is_named(tmp_path: Path) -> None:
    official_prid(tmp_path / "p")
    touch(tmp_path / "p" / "single_shot" / "cam_a" / "person_0005.PNG")
    with pytest.raises(DatasetError, match=r"one image per person and camera.*person_0005\.PNG.*person 5|"
                       r"one image per person and camera.*person_0005\.png.*person 5"):
        _read("prid", tmp_path / "p")


def test_sensereid_is_test_only(tmp_path: Path) -> None:
    official_sensereid(tmp_path / "s")
    data = _read("sensereid", tmp_path / "s")
    assert data.train == () and len(data.query) == 1040


def test_university1652_satellite_to_drone_and_platform_cameras(tmp_path: Path) -> None:
    root = tmp_path / "u"
    named_splits(root, {"train/drone/0001": ["a.jpeg"], "train/satellite/0001": ["0001.jpg"],
                        "train/google/0001": ["g.png"],
                        "test/query_satellite/0002": ["0002.jpg"], "test/gallery_drone/0002": ["b.jpeg", "c.JPEG"],
                        "test/gallery_drone/0003": ["d.jpeg"], "test/query_drone/0002": ["e.jpeg"]})
    data = _read("university1652", root, task="satellite->drone")
    assert sorted(r.camid for r in data.train) == [0, 1]  # google/ is not read
    assert [(r.pid, r.camid) for r in data.query] == [(2, 1)]
    assert sorted((r.pid, r.camid) for r in data.gallery) == [(2, 0), (2, 0), (3, 0)]


@pytest.mark.parametrize("name", sorted(BUILD))
def test_a_market_root_names_the_expected_layout(tmp_path: Path, name: str) -> None:
    root = named_splits(tmp_path / "m", {s: ["0001_c1s1_000001_00.jpg"] for s in
                                          ("bounding_box_train", "query", "bounding_box_test")})
    with pytest.raises(DatasetError, match=r"does not have the .* layout \(it holds bounding_box_test/, "
                       r"bounding_box_train/, query/\); expected ") as error:
        _read(name, root)
    assert "\n" not in str(error.value)

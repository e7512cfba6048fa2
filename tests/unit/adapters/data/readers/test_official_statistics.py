"""Each reader on a tree of empty files sized to its dataset's published statistics reports exactly
those numbers of identities, images and cameras per split (docs/datasets.md lists them).

The trees are what the readers see of the real archives: names and list files (no image is ever
decoded). Each is written once, in a session-scoped temporary folder, when its test first runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reidkit.adapters.data.readers import dataset_reader
from reidkit.domain.types import ReidDataset
from tests.support.dataset_trees import (
    MSMT17_VAL_IMAGES,
    OFFICIAL,
    duke_name,
    market_name,
    official_cuhk03_new,
    official_msmt17,
    official_named,
    official_vehicleid,
    veri_name,
)

MARKET_DIRS = ("bounding_box_train", "query", "bounding_box_test")
PERSONX_CAMERAS = (3, 4, 8, 10, 11, 12)
VEHICLEX_CAMERAS = (6, 7, 8, 9, 10, 16, 17, 20, 25, 35, 36)


def _cameras_per_split(data: ReidDataset) -> dict[str, int]:
    return {split: len({r.camid for r in getattr(data, split)}) for split in ("train", "query", "gallery")}


def _check(data: ReidDataset, stats: dict[str, int], cameras: dict[str, int] | None = None) -> None:
    """``stats`` as ``ReidDataset.summary()`` counts them; every camera in every split unless
    ``cameras`` says otherwise."""
    assert data.summary() == stats
    every = stats["cameras"]
    expected = cameras or {"train": every, "query": every, "gallery": every}
    assert _cameras_per_split(data) == expected


@pytest.fixture(scope="session")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name -> root, each tree written on first use."""
    return {"_base": tmp_path_factory.mktemp("official")}


def _tree(trees: dict[str, Path], name: str) -> Path:
    if name in trees:
        return trees[name]
    root = trees["_base"] / name
    stats = OFFICIAL[name]
    if name == "market":
        official_named(root / "Market-1501-v15.09.15", market_name, MARKET_DIRS, stats, range(1, 7),
                       extra_gallery_ids=[0], junk=3)
    elif name == "dukemtmc":
        official_named(root / "DukeMTMC-reID", duke_name, MARKET_DIRS, stats, range(1, 9),
                       extra_gallery_ids=range(5001, 5001 + 408))
    elif name == "personx":
        official_named(root / "subset1", lambda p, c, n: f"{p:04d}_c{c}_{n:06d}.jpg", MARKET_DIRS, stats,
                       PERSONX_CAMERAS)
    elif name == "veri":
        official_named(root / "VeRi", veri_name, ("image_train", "image_query", "image_test"), stats,
                       range(1, 21), junk=2)
    elif name == "vehiclex":
        official_named(root / "AIC20_ReID_Simulation", lambda p, c, n: f"{p:04d}_c{c:03d}_{n:08d}.jpg",
                       ("image_train",), stats, VEHICLEX_CAMERAS)
    elif name == "msmt17":
        official_msmt17(root / "MSMT17_V2", "V2")
    elif name == "vehicleid":
        official_vehicleid(root / "VehicleID_V1.0")
    elif name.startswith("cuhk03_"):
        official_cuhk03_new(root, name.removeprefix("cuhk03_"))
    trees[name] = root
    return root


# The largest trees (MSMT17 126k files, VehicleX 192k, VehicleID 121k) take a few seconds each to
# write and read on two cores: marked slow, so `-m "not slow"` leaves them out.
@pytest.mark.parametrize(
    "name", ["market", "dukemtmc", "personx", "veri", pytest.param("msmt17", marks=pytest.mark.slow)]
)
def test_the_reader_reports_the_published_statistics(trees: dict[str, Path], name: str) -> None:
    _check(dataset_reader(name).read(_tree(trees, name), domain=name), OFFICIAL[name])


@pytest.mark.slow
def test_vehiclex_is_train_only_with_its_published_statistics(trees: dict[str, Path]) -> None:
    data = dataset_reader("vehiclex").read(_tree(trees, "vehiclex"), domain="vehiclex")
    _check(data, OFFICIAL["vehiclex"], {"train": 11, "query": 0, "gallery": 0})


@pytest.mark.slow
def test_vehicleid_800_has_one_gallery_image_per_vehicle_and_two_made_up_cameras(trees: dict[str, Path]) -> None:
    data = dataset_reader("vehicleid").read(_tree(trees, "vehicleid"), domain="vehicleid")
    assert len(data.query) + len(data.gallery) == 7332
    _check(data, OFFICIAL["vehicleid"], {"train": 1, "query": 1, "gallery": 1})


@pytest.mark.slow
def test_msmt17_combineall_adds_the_val_images_of_the_same_identities(trees: dict[str, Path]) -> None:
    reader = dataset_reader("msmt17")
    data = reader.read(_tree(trees, "msmt17"), domain="msmt17", options=reader.options(combineall=True))
    stats = dict(OFFICIAL["msmt17"], train_images=OFFICIAL["msmt17"]["train_images"] + MSMT17_VAL_IMAGES)
    assert stats["train_images"] == 32621
    _check(data, stats)


@pytest.mark.parametrize("boxes", ["detected", "labeled"])
def test_cuhk03_new_protocol_reports_the_published_statistics(trees: dict[str, Path], boxes: str) -> None:
    reader = dataset_reader("cuhk03")
    data = reader.read(_tree(trees, f"cuhk03_{boxes}"), domain="cuhk03", options=reader.options(boxes=boxes))
    _check(data, OFFICIAL[f"cuhk03_{boxes}"])


@pytest.mark.parametrize("boxes", ["detected", "labeled"])
def test_cuhk03_classic_splits_hold_1367_train_and_100_test_identities(tmp_path: Path, boxes: str) -> None:
    from tests.support.dataset_trees import CUHK03_IMAGES, official_cuhk03_classic

    root = official_cuhk03_classic(tmp_path / "cuhk03", boxes)
    reader = dataset_reader("cuhk03")
    for split_id in (0, 19):
        data = reader.read(root, domain="cuhk03", options=reader.options(boxes=boxes, protocol="classic", split_id=split_id))
        summary = data.summary()
        assert (summary["train_ids"], summary["query_ids"], summary["gallery_ids"]) == (1367, 100, 100)
        assert summary["train_images"] + summary["query_images"] == CUHK03_IMAGES[boxes]
        assert data.query == data.gallery and summary["cameras"] == 2

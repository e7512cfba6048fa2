"""MVB (Multi-View Baggage): the Market-style conversion and the release with its metadata, the
records' material/side/view, the identity-disjoint val split, and the probe → gallery protocol
against the OpenUnReID fork's view-as-camera filter (docs/datasets.md, "mvb")."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from structlog.testing import capture_logs

from reidkit.adapters.data.readers import dataset_reader
from reidkit.adapters.data.readers.mvb import parse_name
from reidkit.adapters.evaluation.evaluator import RankingEvaluator
from reidkit.domain.errors import DatasetError
from reidkit.domain.types import EmbeddedSet, FeatureMatrix, ImageRecord, ReidDataset
from tests.support.dataset_trees import (
    MVB_OFFICIAL,
    mvb_entry,
    mvb_metadata,
    named_splits,
    official_mvb,
    touch,
    write_names,
)

TRAIN = ["0001_g_1.jpg", "0001_g_2.jpg", "0001_p_1.jpg", "0002_g_3.jpg", "0002_p_4.jpg"]
PROBE = ["0010_p_1.jpg", "0010_p_2.jpg", "0011_p_3.jpg"]
GALLERY = ["0010_g_1.jpg", "0011_g_2.jpg", "0011_g_3.jpg"]


def _read(root: Path, **options: object) -> ReidDataset:
    reader = dataset_reader("mvb")
    return reader.read(root, domain="mvb", options=reader.options(**options) if options else None)


def _error(root: Path, **options: object) -> str:
    with pytest.raises(DatasetError) as error:
        _read(root, **options)
    text = str(error.value)
    assert "\n" not in text
    return text


def _names(records: tuple) -> list[str]:
    return [Path(r.path).name for r in records]


def _market(root: Path, train=TRAIN, probe=PROBE, gallery=GALLERY) -> Path:
    return named_splits(root, {"bounding_box_train": train, "query": probe, "bounding_box_test": gallery})


def _release(root: Path, train=TRAIN, probe=PROBE, gallery=GALLERY, *, train_json: str = "train.json",
             entry=mvb_entry) -> Path:
    """The release's tree: every image listed in its part's metadata (built by ``entry``)."""
    write_names(root / "MVB_train" / "Image", train)
    mvb_metadata(root / "MVB_train" / "Info" / train_json, [entry(n) for n in train])
    for folder, names in (("probe", probe), ("gallery", gallery)):
        write_names(root / "MVB_val" / "Image" / folder, names)
        mvb_metadata(root / "MVB_val" / "Info" / f"val_{folder}.json", [entry(n) for n in names])
    return root


# Official sizes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["official", "market"])
def test_both_layouts_report_the_published_statistics(tmp_path: Path, layout: str) -> None:
    official_mvb(tmp_path / "MVB", layout)  # the inner MVB/ folder is found
    data = _read(tmp_path)
    assert data.summary() == MVB_OFFICIAL
    cameras = {split: len({r.camid for r in getattr(data, split)}) for split in ("train", "query", "gallery")}
    assert cameras == {"train": 7, "query": 1, "gallery": 1}
    assert {r.attribute("side") for r in data.query} == {"probe"}
    assert {r.attribute("side") for r in data.gallery} == {"gallery"}
    materials = {r.attribute("material") for r in data.train}
    assert materials == ({"paperboard", "hard", "soft", "others"} if layout == "official" else {""})


# Layout A: Market-style folders -----------------------------------------------------------------

def test_market_layout_splits_sides_views_and_default_cameras(tmp_path: Path) -> None:
    data = _read(_market(tmp_path / "m"))
    assert _names(data.query) == PROBE and _names(data.gallery) == GALLERY
    assert [r.pid for r in data.query] == [10, 10, 11]  # raw ids; train relabelled 0..n-1
    assert [r.pid for r in data.train] == [0, 0, 0, 1, 1]
    # two capture systems, two cameras: probe 0, gallery 1, whatever the view
    assert {r.camid for r in data.query} == {0} and {r.camid for r in data.gallery} == {1}
    # train: one camera per (side, view), gallery views first (highest gallery view 3: p_v -> 3 + v - 1)
    assert [r.camid for r in data.train] == [0, 1, 3, 2, 6]
    first = data.train[0]
    assert first.attributes == (("material", ""), ("side", "gallery"), ("view", "1"))
    assert data.train[4].attribute("side") == "probe" and data.train[4].attribute("view") == "4"
    assert data.query[2].attribute("view") == "3" and data.query[2].attribute("absent", "-") == "-"


def test_the_view_as_camera_option_gives_camid_view_minus_1_on_both_sides(tmp_path: Path) -> None:
    data = _read(_market(tmp_path / "m"), view_as_camera=True)
    assert [r.camid for r in data.query] == [0, 1, 2]
    assert [r.camid for r in data.gallery] == [0, 1, 2]
    assert [r.camid for r in data.train] == [0, 1, 0, 2, 3]


def test_the_numbered_name_variant_is_read(tmp_path: Path) -> None:
    root = _market(tmp_path / "m", train=["0001_g_1_0.jpg", "0001_g_1_1.jpg", "0001_p_2_0.jpg"])
    data = _read(root)
    assert [(r.attribute("side"), r.attribute("view")) for r in data.train] == [
        ("gallery", "1"), ("gallery", "1"), ("probe", "2")]
    assert parse_name("0007_p_3_12.jpg") == (7, "p", 3)


@pytest.mark.parametrize("name", ["0001_g.jpg", "0001_x_1.jpg", "bag_0001.jpg", "0001_c1s1_000001_00.jpg"])
def test_a_name_of_another_form_is_one_line_naming_the_file_and_the_forms(tmp_path: Path, name: str) -> None:
    root = _market(tmp_path / "m", train=[*TRAIN, name])
    text = _error(root)
    assert f"file name '{name}' is not an MVB name ('<id>_<g|p>_<view>.jpg' or '<id>_<g|p>_<view>_<n>.jpg'" in text
    assert "does not guess its view" in text and text.endswith(f"in {root / 'bounding_box_train'}")


def test_view_0_is_refused(tmp_path: Path) -> None:
    assert "has view 0; MVB views count from 1" in _error(_market(tmp_path / "m", gallery=[*GALLERY, "0012_g_0.jpg"]))


def test_market_layout_takes_the_material_from_the_release_metadata_beside_it(tmp_path: Path) -> None:
    root = _market(tmp_path / "m")
    mvb_metadata(root / "Info" / "format.json", [mvb_entry("0001_g_1.jpg", "soft"), mvb_entry("0099_g_1.jpg")])
    mvb_metadata(root / "Info" / "val_probe.json", [mvb_entry("0010_p_2.jpg", "paperboard")])
    with capture_logs() as logs:
        data = _read(root)
    assert [r.attribute("material") for r in data.train] == ["soft", "", "", "", ""]
    assert [r.attribute("material") for r in data.query] == ["", "paperboard", ""]
    # an entry of an image the conversion does not hold (0099) is no error here; unlisted images are counted
    counted = {e["split"].rsplit("/", 1)[1]: e.get("read_without_metadata") for e in logs if "split" in e}
    assert counted == {"bounding_box_train": 4, "query": 2, "bounding_box_test": 3}


def test_a_metadata_id_that_contradicts_the_name_is_one_line(tmp_path: Path) -> None:
    root = _market(tmp_path / "m")
    mvb_metadata(root / "Info" / "train.json", [mvb_entry("0001_g_1.jpg", id=5)])
    assert "train.json entry 0 gives id 5 to 0001_g_1.jpg, whose name says 1" in _error(root)


# Layout B: the release with its metadata --------------------------------------------------------

@pytest.mark.parametrize("train_json", ["train.json", "format.json"])
def test_the_release_is_read_with_either_train_metadata_name(tmp_path: Path, train_json: str) -> None:
    root = _release(tmp_path / "r", train_json=train_json, entry=lambda n: mvb_entry(n, "paperboard"))
    data = _read(root)
    assert _names(data.train) == TRAIN and _names(data.query) == PROBE and _names(data.gallery) == GALLERY
    assert {r.attribute("material") for r in (*data.train, *data.query, *data.gallery)} == {"paperboard"}
    assert data.query[0].path == str(root.absolute() / "MVB_val" / "Image" / "probe" / "0010_p_1.jpg")


def test_ids_as_int_or_string_and_windows_image_paths_are_accepted(tmp_path: Path) -> None:
    def entry(name: str) -> dict[str, object]:
        pid, side, _ = name.split("_", 2)
        fields = {"id": int(pid), "material": "soft", "image_id": 3}  # no datatype: optional
        if side == "p":  # the releases that give the path instead of the name, with backslashes
            return {**fields, "id": pid, "image_path": f"D:\\MVB\\MVB_train\\Image\\{name}"}
        return {**fields, "image_name": name}

    data = _read(_release(tmp_path / "r", entry=entry))
    assert _names(data.train) == TRAIN
    assert {r.attribute("material") for r in (*data.train, *data.query)} == {"soft"}


def test_an_image_without_a_metadata_entry_is_read_from_its_name_and_counted(tmp_path: Path) -> None:
    root = _release(tmp_path / "r")
    touch(root / "MVB_train" / "Image" / "0003_p_1.jpg")
    with capture_logs() as logs:
        data = _read(root)
    extra = data.train[-1]
    assert Path(extra.path).name == "0003_p_1.jpg" and extra.attribute("material") == ""
    assert extra.attribute("side") == "probe" and extra.attribute("view") == "1"
    (event,) = [e for e in logs if e.get("split", "").endswith("MVB_train/Image")]
    assert event["read_without_metadata"] == 1 and event["images"] == 6


def test_a_metadata_entry_without_its_file_is_one_line_or_skipped_and_counted(tmp_path: Path) -> None:
    root = _release(tmp_path / "r")
    mvb_metadata(root / "MVB_val" / "Info" / "val_gallery.json",
                 [mvb_entry(n) for n in (*GALLERY, "0012_g_1.jpg", "0013_g_1.jpg")])
    text = _error(root)
    assert "val_gallery.json entry 3 lists 0012_g_1.jpg, which is not in" in text
    assert "(and 1 more entries)" in text and 'missing = "skip"' in text
    with capture_logs() as logs:
        data = _read(root, missing="skip")
    assert _names(data.gallery) == GALLERY
    (event,) = [e for e in logs if e.get("split", "").endswith("Image/gallery")]
    assert event["listed_but_missing"] == 2


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ([], "is not the release's layout: expected an object with an 'image' list, found list"),
        ({"images": []}, "expected an object with an 'image' list, found keys images"),
        ({}, "found an empty object"),
        ({"image": [{"image_name": "0001_g_1.jpg"}]}, "entry 0 has no 'id'"),
        ({"image": [{"id": "0001"}]}, "entry 0 has no 'image_name' (nor 'image_path')"),
        ({"image": [{"id": "bag1", "image_name": "0001_g_1.jpg"}]}, "entry 0 has id 'bag1', not a number"),
        ({"image": [{"id": 1, "image_name": "0001_g_1.jpg", "datatype": "x"}]}, "entry 0 has datatype 'x'"),
        ({"image": [mvb_entry("0001_g_1.jpg", datatype="p")]}, "gives datatype 'p' to 0001_g_1.jpg, whose name says 'g'"),
        ({"image": [mvb_entry("0001_g_1.jpg"), mvb_entry("0001_g_1.jpg")]}, "entry 1 lists 0001_g_1.jpg again"),
        ("{not json", "is not JSON (line 1"),
    ],
)
def test_metadata_of_another_layout_is_one_line_naming_the_file(tmp_path: Path, content: object, expected: str) -> None:
    root = _release(tmp_path / "r")
    info = root / "MVB_train" / "Info" / "train.json"
    info.write_text(content if isinstance(content, str) else json.dumps(content))
    text = _error(root)
    assert str(info) in text and expected in text


def test_a_release_without_its_metadata_file_says_which_names_are_known(tmp_path: Path) -> None:
    root = _release(tmp_path / "r")
    (root / "MVB_train" / "Info" / "train.json").unlink()
    assert "has no train.json or format.json" in _error(root)


# The identity of a probe without a gallery image ------------------------------------------------

def test_an_identity_only_in_the_probe_is_reported_and_counted_never_scored(tmp_path: Path) -> None:
    root = _market(tmp_path / "m", probe=[*PROBE, "0020_p_1.jpg"])
    with capture_logs() as logs:
        data = _read(root)
    assert _names(data.query)[-1] == "0020_p_1.jpg"
    (event,) = [e for e in logs if e["event"].startswith("MVB probe identities without a gallery image")]
    assert (event["log_level"], event["identities"], event["queries"], event["first"]) == ("warning", 1, 1, "20")
    features = np.eye(len(data.query) + len(data.gallery), dtype=np.float32)
    metrics = RankingEvaluator().evaluate(
        EmbeddedSet.of(FeatureMatrix(features[: len(data.query)]), data.query),
        EmbeddedSet.of(FeatureMatrix(features[len(data.query):]), data.gallery),
    )
    assert (metrics.num_queries, metrics.num_valid_queries) == (4, 3)


# The val split ----------------------------------------------------------------------------------

def test_the_val_split_is_identity_disjoint_seeded_and_takes_probe_as_query(tmp_path: Path) -> None:
    official_mvb(tmp_path / "r", "market")
    data = _read(tmp_path / "r", split="val", val_identities=300, seed=2)
    held = {r.pid for r in (*data.query, *data.gallery)}
    assert len(held) == 300 and data.num_train_pids == 4019 - 300
    train_ids = {int(Path(r.path).name[:4]) for r in data.train}  # raw ids (train is relabelled)
    assert not held & train_ids and all(pid < 4019 for pid in held)  # drawn from the training part
    assert {r.attribute("side") for r in data.query} == {"probe"} and {r.camid for r in data.query} == {0}
    assert {r.attribute("side") for r in data.gallery} == {"gallery"} and {r.camid for r in data.gallery} == {1}
    assert len(data.train) + len(data.query) + len(data.gallery) == 20176
    assert _read(tmp_path / "r", split="val", val_identities=300, seed=2) == data
    other = _read(tmp_path / "r", split="val", val_identities=300, seed=3)
    assert {r.pid for r in other.query} != {r.pid for r in data.query}


def test_the_val_split_needs_only_the_training_part_and_leaves_identities_to_train(tmp_path: Path) -> None:
    named_splits(tmp_path / "m", {"bounding_box_train": TRAIN + ["0003_g_1.jpg", "0003_p_2.jpg"]})
    data = _read(tmp_path / "m", split="val", val_identities=1)
    assert data.num_train_pids == 2 and len({r.pid for r in data.query}) <= 1
    assert "val_identities = 3 leaves no training identity" in _error(tmp_path / "m", split="val", val_identities=3)
    with pytest.raises(ValueError):
        dataset_reader("mvb").options(split="trainval")


# The protocol -----------------------------------------------------------------------------------

def test_the_view_filter_drops_a_query_whose_only_match_shares_its_view_number(tmp_path: Path) -> None:
    """q1 (bag 1, p_2) has one gallery image, g_2: the same view number, another camera system.
    q2 (bag 2, p_3) finds bag 3's g_3 and bag 1's g_2 before its own g_1 (AP 1/3).

    Default (probe camid 0, gallery camid 1): q1 AP 1, q2 AP 1/3 -> mAP 2/3, rank-1 1/2.
    view_as_camera (camid = view - 1): q1 and g_2 are both camid 1, same bag -> no valid match,
    dropped; q2 unchanged (its g_3 is another bag) -> mAP 1/3, rank-1 0, one valid query."""
    root = _market(tmp_path / "m", probe=["0001_p_2.jpg", "0002_p_3.jpg"],
                   gallery=["0001_g_2.jpg", "0002_g_1.jpg", "0003_g_3.jpg"])
    features = {
        "0001_p_2.jpg": [1.0, 0.0], "0002_p_3.jpg": [0.8, 0.6],
        "0001_g_2.jpg": [1.0, 0.0], "0002_g_1.jpg": [0.0, 1.0], "0003_g_3.jpg": [0.6, 0.8],
    }

    def embedded(records: tuple[ImageRecord, ...]) -> EmbeddedSet:
        return EmbeddedSet.of(FeatureMatrix([features[Path(r.path).name] for r in records]), records)

    def scores(**options: object):
        data = _read(root, **options)
        return RankingEvaluator().evaluate(embedded(data.query), embedded(data.gallery))

    ours, fork = scores(), scores(view_as_camera=True)
    assert (ours.num_queries, ours.num_valid_queries) == (2, 2)
    assert ours.mAP == pytest.approx(2 / 3) and ours.rank(1) == pytest.approx(0.5)
    assert (fork.num_queries, fork.num_valid_queries) == (2, 1)
    assert fork.mAP == pytest.approx(1 / 3) and fork.rank(1) == pytest.approx(0.0)


# Roots ------------------------------------------------------------------------------------------

def test_the_market_folders_win_when_the_root_holds_both_layouts(tmp_path: Path) -> None:
    root = _release(tmp_path / "r")
    _market(root, train=["0005_g_1.jpg", "0005_p_1.jpg"])
    assert _names(_read(root).train) == ["0005_g_1.jpg", "0005_p_1.jpg"]


def test_a_root_of_another_layout_names_both_mvb_layouts(tmp_path: Path) -> None:
    named_splits(tmp_path / "x", {"bounding_box_train": ["0001_c1s1_000001_00.jpg"], "query": []})
    text = _error(tmp_path / "x")
    assert "does not have the MVB layout (it holds bounding_box_train/, query/)" in text
    assert "MVB_train/Info/train.json (or format.json)" in text

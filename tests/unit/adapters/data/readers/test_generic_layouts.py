"""Your own data: folders (one per identity), a CSV manifest, and unlabelled images."""

from __future__ import annotations

from pathlib import Path

import pytest

from reidkit.adapters.data.readers import dataset_reader
from reidkit.domain.errors import DatasetError
from tests.support.dataset_trees import named_splits, touch, write_names


def _read(name: str, root: Path, **options: object):
    reader = dataset_reader(name)
    return reader.read(root, domain="mine", options=reader.options(**options) if reader.options else None)


def _by_name(records) -> list[tuple[str, int, int]]:
    return sorted((Path(r.path).name, r.pid, r.camid) for r in records)


# folders ----------------------------------------------------------------------------------------

def _folders(root: Path) -> Path:
    write_names(root / "train", ["bob/img_c2_01.jpg", "bob/c3/02.PNG", "alice/0001.jpg", "alice/notes.txt",
                                 "alice/misc/x.jpg"])
    write_names(root / "query", ["carol/q_c1.jpg", "dave/c12/q.jpg"])
    write_names(root / "gallery", ["carol/g-c2-1.jpg", "dave/g_c1_2.jpg", "erin/g_c3.jpg"])
    return root


def test_folders_identity_from_the_folder_camera_from_a_subfolder_or_a_token(tmp_path: Path) -> None:
    data = _read("folders", _folders(tmp_path / "exp_7_c2"))
    assert _by_name(data.train) == [("0001.jpg", 0, 0), ("02.PNG", 1, 2), ("img_c2_01.jpg", 1, 1)]
    # query/gallery names numbered 1.. over both splits: carol 1, dave 2, erin 3
    assert _by_name(data.query) == [("q.jpg", 2, 11), ("q_c1.jpg", 1, 0)]
    assert _by_name(data.gallery) == [("g-c2-1.jpg", 1, 1), ("g_c1_2.jpg", 2, 0), ("g_c3.jpg", 3, 2)]


def test_folders_integer_identity_names_are_the_pids_with_junk_dropped_and_distractors_kept(tmp_path: Path) -> None:
    root = tmp_path / "f"
    write_names(root / "train", ["0007/a.jpg", "0003/b.jpg"])
    write_names(root / "query", ["0042/q_c1.jpg", "-1/q_c2.jpg"])
    write_names(root / "gallery", ["0042/g_c2.jpg", "0000/d_c1.jpg", "-1/j_c1.jpg"])
    data = _read("folders", root)
    assert _by_name(data.train) == [("a.jpg", 1, 0), ("b.jpg", 0, 0)]
    assert [r.pid for r in data.query] == [42]
    assert sorted(r.pid for r in data.gallery) == [0, 42]


def test_folders_train_only_has_no_evaluation(tmp_path: Path) -> None:
    root = tmp_path / "f"
    write_names(root / "train", ["a/1.jpg"])
    data = _read("folders", root)
    assert data.query == () and data.gallery == ()


def test_folders_a_query_image_without_a_camera_is_named(tmp_path: Path) -> None:
    root = _folders(tmp_path / "f")
    touch(root / "query" / "carol" / "nocam.jpg")
    with pytest.raises(DatasetError, match=r"query/carol/nocam\.jpg has no camera: name it with a c<N> token"):
        _read("folders", root)


def test_folders_query_without_gallery_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "f"
    write_names(root / "train", ["a/1.jpg"])
    write_names(root / "query", ["a/1_c1.jpg"])
    with pytest.raises(DatasetError, match=r"has query/ without gallery/; a folders dataset has both or neither"):
        _read("folders", root)


def test_folders_given_a_market_root_names_its_layout(tmp_path: Path) -> None:
    root = named_splits(tmp_path / "m", {"bounding_box_train": ["0001_c1s1_000001_00.jpg"], "query": []})
    with pytest.raises(DatasetError, match=r"does not have the folders layout \(it holds bounding_box_train/, query/\); "
                       r"expected train/<identity>/<image>"):
        _read("folders", root)


# manifest ---------------------------------------------------------------------------------------

def _manifest(root: Path, rows: list[str], header: str = "path,pid,camid,split") -> Path:
    write_names(root, ["images/a.jpg", "images/b.JPG", "images/c.png", "images/d.jpg", "images/e.jpg",
                       "images/exp_7_c2.jpg"])
    (root / "manifest.csv").write_text("\n".join([header, *rows]) + "\n")
    return root


ROWS = ["images/a.jpg,12,0,train", "images/b.JPG,5,3,train", "images/c.png,-1,0,train",
        "images/d.jpg,7,0,query", "images/e.jpg,7,14,gallery", "images/exp_7_c2.jpg,0,2,gallery"]


def test_manifest_reads_paths_relative_to_the_csv(tmp_path: Path) -> None:
    root = _manifest(tmp_path / "mine", ROWS)
    data = _read("manifest", root)
    assert _by_name(data.train) == [("a.jpg", 1, 0), ("b.JPG", 0, 3)]  # -1 dropped, 5 -> 0, 12 -> 1
    assert _by_name(data.query) == [("d.jpg", 7, 0)]
    assert _by_name(data.gallery) == [("e.jpg", 7, 14), ("exp_7_c2.jpg", 0, 2)]
    assert _read("manifest", root / "manifest.csv").train == data.train  # the CSV itself as root


def test_manifest_columns_in_any_order_with_extra_ones(tmp_path: Path) -> None:
    root = _manifest(tmp_path / "m", ["train,0,images/a.jpg,x,3"], header="split,camid,path,note,pid")
    assert _by_name(_read("manifest", root).train) == [("a.jpg", 0, 0)]


@pytest.mark.parametrize(("row", "message"), [
    ("images/zz.jpg,1,0,train", r"line 3: .*images/zz\.jpg does not exist$"),
    ("images/a.jpg,one,0,train", r"line 3: pid 'one' and camid '0' must be integers"),
    ("images/a.jpg,1,0,test", r"line 3: split 'test' is not one of train, query, gallery"),
    ("images/a.jpg,1,-2,train", r"line 3: pid 1 must be >= -1 .* and camid -2 >= 0"),
    ("images/a.jpg,1", r"line 3: 2 fields, the header has 4"),
    ("manifest.csv,1,0,train", r"line 3: 'manifest\.csv' is not an image file name"),
])
def test_manifest_each_problem_names_its_line(tmp_path: Path, row: str, message: str) -> None:
    root = _manifest(tmp_path / "m", ["images/b.JPG,5,3,train", row])
    with pytest.raises(DatasetError, match=r"manifest\.csv " + message) as error:
        _read("manifest", root)
    assert "\n" not in str(error.value)


def test_manifest_a_header_without_the_columns_is_named(tmp_path: Path) -> None:
    root = _manifest(tmp_path / "m", ["images/a.jpg,1,0"], header="path,pid,camid")
    with pytest.raises(DatasetError, match=r"line 1: the header lacks split"):
        _read("manifest", root)


def test_manifest_given_a_market_root_names_the_csv_it_expected(tmp_path: Path) -> None:
    root = named_splits(tmp_path / "m", {"bounding_box_train": ["0001_c1s1_000001_00.jpg"]})
    with pytest.raises(DatasetError, match=r"m/manifest\.csv does not exist \(it holds bounding_box_train/\); expected a CSV"):
        _read("manifest", root)


# unlabelled -------------------------------------------------------------------------------------

def test_unlabelled_every_image_below_the_root_is_its_own_identity(tmp_path: Path) -> None:
    root = tmp_path / "exp_7_c2"
    write_names(root, ["b/2.JPG", "a/1.jpg", "a/x_c4_01.png", "a/readme.txt", ".cache/z.jpg", "top.jpg"])
    data = _read("unlabelled", root)
    assert [(str(Path(r.path).relative_to(root)), r.pid, r.camid) for r in data.train] == [
        ("a/1.jpg", 0, 0), ("a/x_c4_01.png", 1, 3), ("b/2.JPG", 2, 0), ("top.jpg", 3, 0)]
    assert data.query == () and data.gallery == () and data.num_train_pids == 4


def test_unlabelled_a_folder_without_images_is_named(tmp_path: Path) -> None:
    write_names(tmp_path / "u", ["notes.txt"])
    with pytest.raises(DatasetError, match=r"u holds no images \(it holds notes\.txt\); expected image files"):
        _read("unlabelled", tmp_path / "u")

"""The video readers (MARS, DukeMTMC-VideoReID, iLIDS-VID, PRID 2011) on fabricated trees of empty
frames: tracklets in temporal order, junk (pid -1) skipped, pid 0 kept, tracklets shorter than any
sampling length kept (min_seq_len drops them), one line per broken entry, and the published
numbers of identities, tracklets and cameras on trees sized to them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from reidkit.adapters.data.readers import dataset_reader
from reidkit.domain.errors import DatasetError
from reidkit.domain.types import ReidDataset, Tracklet
from tests.support.dataset_trees import write_names
from tests.support.video_trees import (
    OFFICIAL_VIDEO,
    duke_video_tree,
    ilidsvid_splits,
    ilidsvid_tree,
    mars_tree,
    official_duke_video,
    official_ilidsvid,
    official_mars,
    official_prid2011,
    prid2011_splits,
    prid2011_tree,
)


def _read(name: str, root: Path, **options: object) -> ReidDataset:
    reader = dataset_reader(name)
    return reader.read(root, domain="v", options=reader.options(**options) if options else None)


def _one_line(error: pytest.ExceptionInfo[DatasetError]) -> str:
    text = str(error.value)
    assert "\n" not in text
    return text


# --- MARS ------------------------------------------------------------------------------------------

# train: pid 5 under cameras 1 and 2 (a 1-frame tracklet: shorter than any seq_len), pid 9 twice
MARS_TRAIN = [(5, 1, 3), (5, 2, 1), (9, 3, 4), (9, 4, 2)]
# test rows: 1 query of 7, 2 gallery of 7, 3 junk, 4 distractor (pid 0), 5 query of 8, 6 gallery of 8
MARS_TEST = [(7, 1, 2), (7, 2, 3), (-1, 1, 2), (0, 3, 2), (8, 4, 1), (8, 5, 2)]
MARS_QUERIES = [1, 5]


def test_mars_reads_tracklets_in_list_order_skips_junk_keeps_pid_0_and_keeps_queries_out_of_the_gallery(tmp_path: Path) -> None:
    root = mars_tree(tmp_path / "MARS", MARS_TRAIN, MARS_TEST, MARS_QUERIES)
    data = _read("mars", tmp_path)  # found inside the MARS/ folder
    assert data.is_video and all(isinstance(r, Tracklet) for r in (*data.train, *data.query, *data.gallery))
    assert [(t.pid, t.camid, len(t.frames)) for t in data.train] == [(0, 0, 3), (0, 1, 1), (1, 2, 4), (1, 3, 2)]
    assert data.train[0].frames == tuple(
        str(root / "bbox_train" / "0005" / f"0005C1T0001F{f:03d}.jpg") for f in (1, 2, 3)
    )
    assert [(t.pid, t.camid) for t in data.query] == [(7, 0), (8, 3)]
    assert [(t.pid, t.camid) for t in data.gallery] == [(7, 1), (0, 2), (8, 4)]  # row 3 (junk) skipped
    assert data.num_frames == 10 + 2 + 3 + 2 + 1 + 2


def test_mars_min_seq_len_drops_short_tracklets(tmp_path: Path) -> None:
    mars_tree(tmp_path, MARS_TRAIN, MARS_TEST, MARS_QUERIES)
    data = _read("mars", tmp_path, min_seq_len=2)
    assert [len(t.frames) for t in data.train] == [3, 4, 2]
    assert [(t.pid, len(t.frames)) for t in data.gallery] == [(7, 3), (0, 2), (8, 2)]
    assert [t.pid for t in data.query] == [7]  # query of 8 had 1 frame


def test_mars_name_list_entry_of_a_missing_frame_is_one_line_naming_it(tmp_path: Path) -> None:
    mars_tree(tmp_path, MARS_TRAIN, MARS_TEST, MARS_QUERIES)
    os.unlink(tmp_path / "bbox_train" / "0009" / "0009C3T0003F002.jpg")
    with pytest.raises(DatasetError) as error:
        _read("mars", tmp_path)
    text = _one_line(error)
    assert "tracks_train_info.mat row 3" in text and "line 6 of train_name.txt" in text
    assert "0009C3T0003F002.jpg, which does not exist" in text


@pytest.mark.parametrize(
    ("train", "query_rows", "expected"),
    [
        ([(5, 7, 1), (9, 1, 1)], MARS_QUERIES, "camera 7, not one of MARS's 1..6"),
        (MARS_TRAIN, [1, 9], "query_IDX.mat names test track 9, but tracks_test_info.mat has rows 1..6"),
    ],
)
def test_mars_bad_info_is_one_line(tmp_path: Path, train: list, query_rows: list[int], expected: str) -> None:
    mars_tree(tmp_path, train, MARS_TEST, query_rows)
    with pytest.raises(DatasetError) as error:
        _read("mars", tmp_path)
    assert expected in _one_line(error)


def test_mars_row_whose_frames_belong_to_another_pid_is_named(tmp_path: Path) -> None:
    mars_tree(tmp_path, MARS_TRAIN, MARS_TEST, MARS_QUERIES)
    names = (tmp_path / "info" / "train_name.txt").read_text().splitlines()
    names[0] = names[0].replace("0005C1", "0009C1")
    (tmp_path / "info" / "train_name.txt").write_text("\n".join(names) + "\n")
    with pytest.raises(DatasetError) as error:
        _read("mars", tmp_path)
    assert "line 1 of train_name.txt" in _one_line(error) and "not a frame of pid 0005 under camera C1" in str(error.value)


def test_mars_refuses_another_layout_in_one_line(tmp_path: Path) -> None:
    write_names(tmp_path / "bounding_box_train", ["0001_c1s1_000001_00.jpg"])
    with pytest.raises(DatasetError) as error:
        _read("mars", tmp_path)
    assert "does not have the MARS layout (it holds bounding_box_train/)" in _one_line(error)


def test_mars_missing_info_file_is_named(tmp_path: Path) -> None:
    mars_tree(tmp_path, MARS_TRAIN, MARS_TEST, MARS_QUERIES)
    os.unlink(tmp_path / "info" / "query_IDX.mat")
    with pytest.raises(DatasetError, match=r"MARS needs .*query_IDX\.mat, which does not exist"):
        _read("mars", tmp_path)


# --- DukeMTMC-VideoReID -----------------------------------------------------------------------------


def _duke(tmp_path: Path) -> Path:
    return duke_video_tree(tmp_path / "DukeMTMC-VideoReID", {
        # pid 3's first tracklet starts at F0002 and skips F0004; its second has one frame
        "train": [(3, 1, [12, 2, 3, 5]), (3, 2, [7]), (4, 2, [1, 2]), (-1, 3, [1, 2])],
        "query": [(6, 1, [1, 2, 3])],
        "gallery": [(6, 2, [1, 2]), (0, 4, [1]), (-1, 1, [1])],
    })  # fmt: skip


def test_duke_video_orders_frames_by_their_f_number_skips_junk_keeps_pid_0(tmp_path: Path) -> None:
    root = _duke(tmp_path)
    data = _read("dukemtmc_video", tmp_path)
    first = data.train[0]
    assert [os.path.basename(f)[:13] for f in first.frames] == [
        "0003_C1_F0002", "0003_C1_F0003", "0003_C1_F0005", "0003_C1_F0012"
    ]
    assert os.path.dirname(first.frames[0]) == str(root / "train" / "0003" / "0001")
    assert [(t.pid, t.camid, len(t.frames)) for t in data.train] == [(0, 0, 4), (0, 1, 1), (1, 1, 2)]
    assert [(t.pid, t.camid) for t in data.query] == [(6, 0)]
    assert [(t.pid, t.camid) for t in data.gallery] == [(0, 3), (6, 1)]  # pid folders in sorted order
    assert [len(t.frames) for t in _read("dukemtmc_video", tmp_path, min_seq_len=2).train] == [4, 2]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("0003_C2_F0099_X1.jpg", "mixes cameras [1, 2]"),
        ("0004_C1_F0099_X1.jpg", "is not of the folder's pid 3"),
        ("0003_C9_F0099_X1.jpg", "has camera 9, not one of DukeMTMC-VideoReID's 1..8"),
        ("0003_C1_F0002_X7.jpg", "has two frames F0002"),
        ("frame_0099.jpg", "is not a DukeMTMC-VideoReID name"),
    ],
)
def test_duke_video_bad_frame_is_one_line(tmp_path: Path, name: str, expected: str) -> None:
    root = _duke(tmp_path)
    write_names(root / "train" / "0003" / "0001", [name])
    with pytest.raises(DatasetError) as error:
        _read("dukemtmc_video", tmp_path)
    assert expected in _one_line(error)


def test_duke_video_refuses_the_image_dataset_layout(tmp_path: Path) -> None:
    write_names(tmp_path, ["bounding_box_train/0001_c1_f0000001.jpg", "query/0002_c1_f0000001.jpg"])
    with pytest.raises(DatasetError) as error:
        _read("dukemtmc_video", tmp_path)
    assert "does not have the DukeMTMC-VideoReID layout" in _one_line(error)


# --- iLIDS-VID ---------------------------------------------------------------------------------------


def test_ilidsvid_split_rows_choose_test_persons_and_frames_come_in_number_order(tmp_path: Path) -> None:
    persons = [1, 2, 4, 6]
    ls_set = np.array([[2, 4, 1, 3], [1, 3, 2, 4]])  # row k: first half test, indices into sorted folders
    ilidsvid_tree(tmp_path / "iLIDS-VID", persons, 0, ls_set)
    sequences = tmp_path / "iLIDS-VID" / "i-LIDS-VID" / "sequences"
    for camera in (1, 2):
        for p in persons:  # frame 99 before 100 (lexical order would put 100 first)
            write_names(sequences / f"cam{camera}" / f"person{p:03d}",
                        [f"cam{camera}_person{p:03d}_{f}.png" for f in (100, 99, 7)])  # fmt: skip
    data = _read("ilidsvid", tmp_path)
    assert [(t.pid, t.camid) for t in data.query] == [(2, 0), (6, 0)]
    assert [(t.pid, t.camid) for t in data.gallery] == [(2, 1), (6, 1)]
    assert [(t.pid, t.camid) for t in data.train] == [(0, 0), (0, 1), (1, 0), (1, 1)]  # persons 1 and 4
    assert [os.path.basename(f) for f in data.train[0].frames] == [
        "cam1_person001_7.png", "cam1_person001_99.png", "cam1_person001_100.png"
    ]
    second = _read("ilidsvid", tmp_path, split_id=1)
    assert [t.pid for t in second.query] == [1, 4]


def test_ilidsvid_person_in_one_camera_only_is_one_line(tmp_path: Path) -> None:
    ilidsvid_tree(tmp_path, [1, 2, 3, 4], 2, ilidsvid_splits(4), cam2_persons=[1, 2, 3])
    with pytest.raises(DatasetError) as error:
        _read("ilidsvid", tmp_path)
    assert "person004 is in" in _one_line(error) and "cam1 but not in the other camera" in str(error.value)


def test_ilidsvid_split_entry_naming_a_missing_person_is_one_line(tmp_path: Path) -> None:
    ilidsvid_tree(tmp_path, [1, 2, 3, 4], 2, np.array([[1, 2, 3, 5]]))
    with pytest.raises(DatasetError) as error:
        _read("ilidsvid", tmp_path)
    assert "row 1 names index 5 outside 1..4" in _one_line(error)


def test_ilidsvid_split_id_past_the_mat_rows_is_named(tmp_path: Path) -> None:
    ilidsvid_tree(tmp_path, [1, 2, 3, 4], 2, ilidsvid_splits(4, count=2))
    with pytest.raises(DatasetError, match="split_id 5 needs at least 6 rows"):
        _read("ilidsvid", tmp_path, split_id=5)


# --- PRID 2011 ---------------------------------------------------------------------------------------


def test_prid2011_reads_the_split_files_halves(tmp_path: Path) -> None:
    splits = [{"train": ["person_0001", "person_0003"], "test": ["person_0002", "person_0004"]}]
    prid2011_tree(tmp_path / "prid2011", [1, 2, 3, 4, 5], [1, 2, 3, 4, 6, 7], 0, splits)
    shots = tmp_path / "prid2011" / "prid_2011" / "multi_shot"
    for camera in ("cam_a", "cam_b"):
        for p in (1, 2, 3, 4):
            write_names(shots / camera / f"person_{p:04d}", ["0010.png", "0002.png", "0001.png"])
    data = _read("prid2011", tmp_path)
    assert [(t.pid, t.camid) for t in data.train] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert [(t.pid, t.camid) for t in data.query] == [(2, 0), (4, 0)]
    assert [(t.pid, t.camid) for t in data.gallery] == [(2, 1), (4, 1)]
    assert [os.path.basename(f) for f in data.query[0].frames] == ["0001.png", "0002.png", "0010.png"]


def test_prid2011_without_its_split_file_says_where_it_comes_from(tmp_path: Path) -> None:
    prid2011_tree(tmp_path, [1, 2], [1, 2], 2, None)
    with pytest.raises(DatasetError) as error:
        _read("prid2011", tmp_path)
    assert "splits_prid2011.json, which does not exist: Torchreid's" in _one_line(error)


def test_prid2011_split_naming_a_missing_sequence_is_one_line(tmp_path: Path) -> None:
    splits = [{"train": ["person_0001"], "test": ["person_0002"]}]
    prid2011_tree(tmp_path, [1, 2], [1], 2, None)
    (tmp_path / "elsewhere.json").write_text(json.dumps(splits))
    with pytest.raises(DatasetError) as error:
        _read("prid2011", tmp_path, split_file=str(tmp_path / "elsewhere.json"))
    assert "elsewhere.json names person_0002, but" in _one_line(error) and "cam_b/person_0002 does not exist" in str(error.value)


def test_prid2011_split_id_past_the_file_is_named(tmp_path: Path) -> None:
    prid2011_tree(tmp_path, [1, 2, 3, 4], [1, 2, 3, 4], 1, prid2011_splits([1, 2, 3, 4], count=3))
    with pytest.raises(DatasetError, match="holds 3 splits; split_id 7 needs 8"):
        _read("prid2011", tmp_path, split_id=7)


# --- the published statistics ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "make"),
    [("mars", official_mars), ("ilidsvid", official_ilidsvid), ("prid2011", official_prid2011),
     # 4,832 tracklet folders: about 20 s to write, read and delete here, so left to `-m slow`
     pytest.param("dukemtmc_video", official_duke_video, marks=pytest.mark.slow)],
)  # fmt: skip
def test_a_tree_of_the_official_size_gives_the_published_statistics(tmp_path: Path, name: str, make) -> None:  # noqa: ANN001
    make(tmp_path)
    data = _read(name, tmp_path)
    assert data.summary() == OFFICIAL_VIDEO[name]
    assert data.is_video


@pytest.mark.parametrize("name", list(OFFICIAL_VIDEO))
def test_each_video_reader_is_registered_with_one_line_texts_and_frozen_options(name: str) -> None:
    import attrs

    reader = dataset_reader(name)
    assert reader.name == name and "\n" not in reader.summary + reader.layout
    default = reader.options()
    assert all(f.kw_only for f in attrs.fields(reader.options))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(default, attrs.fields(reader.options)[0].name, 1)

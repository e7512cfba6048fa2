"""iLIDS-VID (Wang et al., ECCV 2014): video re-ID, two non-overlapping airport cameras.

Official statistics: 300 persons, one sequence per person and camera (600 sequences, 23 to 192
frames). Protocol: the 10 splits of the archive's ``train_test_splits_ilidsvid.mat`` (``split_id``
0..9), each half of the persons for test. Per split: train 150 ids / 300 tracklets (both cameras),
query 150 / 150 (cam1), gallery 150 / 150 (cam2); 2 cameras (cam1 camid 0, cam2 camid 1).

    root/                       or root/iLIDS-VID/ (the official iLIDS-VID.tar extracted)
      i-LIDS-VID/sequences/cam1/person001/cam1_person001_00317.png
      i-LIDS-VID/sequences/cam2/person001/...
      train-test people splits/train_test_splits_ilidsvid.mat     ('ls_set', 10 x 300)

Row k of ``ls_set`` holds 1-based indices into the sorted cam1 person folders: the first 150 are
split k's test persons, the rest its training persons (Wang et al.'s protocol, as Torchreid). Both
cameras must hold the same persons. Frames are ordered by their frame number (Torchreid keeps the
file system's glob order). Query and gallery keep the person numbers (``person042`` -> pid 42);
train is relabelled 0..149.
"""

from __future__ import annotations

import re
from pathlib import Path

from attrs import field, frozen, validators

from reidkit.adapters.data.readers import DatasetReader
from reidkit.adapters.data.readers._common import as_folder, find_root, has_dirs, layout_error, options_of
from reidkit.adapters.data.readers._video import load_mat, numbered_frames, subfolders, tracklet_dataset
from reidkit.domain.errors import DatasetError, one_line
from reidkit.domain.types import ReidDataset, Tracklet

TITLE = "iLIDS-VID"
SEQUENCES = "i-LIDS-VID/sequences"
SPLIT_FILE = "train-test people splits/train_test_splits_ilidsvid.mat"
LAYOUT = (
    f"{SEQUENCES}/cam1/ and cam2/ of 'person<NNN>/' frame folders and '{SPLIT_FILE}' "
    "(in the root or its iLIDS-VID/)"
)
SPLITS = 10
PERSONS = 300
_PERSON = re.compile(r"^person(\d+)$")


@frozen(kw_only=True)
class IlidsVidOptions:
    split_id: int = field(default=0, validator=[validators.instance_of(int), validators.ge(0), validators.lt(SPLITS)])


def read(root: str | Path, *, domain: str = "", options: IlidsVidOptions | None = None) -> ReidDataset:
    options = options_of(options, IlidsVidOptions)
    base = as_folder(root, TITLE, LAYOUT)
    found = find_root(base, ("iLIDS-VID",), has_dirs(f"{SEQUENCES}/cam1", f"{SEQUENCES}/cam2"))
    if found is None:
        raise layout_error(base, TITLE, LAYOUT)
    cam1_dir, cam2_dir = found / SEQUENCES / "cam1", found / SEQUENCES / "cam2"
    cam1, cam2 = subfolders(cam1_dir), subfolders(cam2_dir)
    only = sorted(set(cam1) ^ set(cam2))
    if only:
        where = cam1_dir if only[0] in cam1 else cam2_dir
        raise DatasetError(f"{TITLE} person {one_line(only[0])} is in {one_line(str(where))} but not in the other camera")
    table = load_mat(found / SPLIT_FILE, "ls_set", TITLE)
    if table.ndim != 2 or table.shape[0] <= options.split_id or table.shape[1] != len(cam1) or len(cam1) % 2:
        raise DatasetError(
            f"{TITLE} {SPLIT_FILE} 'ls_set' has shape {table.shape}; split_id {options.split_id} needs at least "
            f"{options.split_id + 1} rows of one index per person ({len(cam1)} person folders)"
        )
    row = [int(v) for v in table[options.split_id]]
    bad = [i for i in row if not 1 <= i <= len(cam1)]
    if bad or len(set(row)) != len(row):
        problem = f"index {bad[0]} outside 1..{len(cam1)}" if bad else "a person twice"
        raise DatasetError(f"{TITLE} {SPLIT_FILE} row {options.split_id + 1} names {problem}")
    half = len(row) // 2
    test = [cam1[i - 1] for i in sorted(row[:half])]
    trained = [cam1[i - 1] for i in sorted(row[half:])]
    train = [t for person in trained for t in _sequences(found, person, (1, 2), domain)]
    query = [t for person in test for t in _sequences(found, person, (1,), domain)]
    gallery = [t for person in test for t in _sequences(found, person, (2,), domain)]
    return tracklet_dataset(domain or found.name, train, query, gallery, where=one_line(str(found)))


def _sequences(found: Path, person: str, cameras: tuple[int, ...], domain: str) -> list[Tracklet]:
    match = _PERSON.match(person)
    if match is None:
        raise DatasetError(f"{TITLE} folder {one_line(person)!r} in {one_line(str(found / SEQUENCES))} is not a person<NNN> folder")
    out = []
    for camera in cameras:
        folder = found / SEQUENCES / f"cam{camera}" / person
        frames = numbered_frames(folder, TITLE)
        if not frames:
            raise DatasetError(f"{TITLE} sequence {one_line(str(folder))} holds no frames")
        out.append(Tracklet(frames=frames, pid=int(match.group(1)), camid=camera - 1, domain=domain))
    return out


READER = DatasetReader(
    name="ilidsvid",
    summary="iLIDS-VID (video, split_id 0..9): train 150 ids/300 tracklets, query 150/150, gallery 150/150, 2 cameras",
    layout=LAYOUT,
    read=read,
    video=True,
    options=IlidsVidOptions,
)

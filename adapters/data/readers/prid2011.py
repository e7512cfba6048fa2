"""PRID 2011, multi-shot (Hirzer et al., SCIA 2011): video re-ID, two static cameras.

Official statistics: camera A 385 persons, camera B 749 persons, 200 in both. Protocol (Wang et
al., ECCV 2014, then McLaughlin et al., CVPR 2016): 178 of the 200 persons seen by both cameras
(those with long enough sequences), halved 10 times; Torchreid ships those halves as
``splits_prid2011.json`` (``split_id`` 0..9). Per split: train 89 ids / 178 tracklets (both
cameras), query 89 / 89 (cam_a), gallery 89 / 89 (cam_b); 2 cameras (cam_a camid 0, cam_b 1).

    root/                       or root/prid2011/
      prid_2011/multi_shot/cam_a/person_0001/0001.png
      prid_2011/multi_shot/cam_b/person_0001/...
      splits_prid2011.json      [{"train": ["person_0001", ...], "test": [...]}, ...] (10 splits)

The split file is not in the archive: it is Torchreid's (its documentation links it under
"PRID2011"; put it in the root, or name it with ``split_file``). Frames are ordered by their
number (Torchreid keeps the file system's glob order). Query and gallery keep the person
numbers (``person_0042`` -> pid 42); train is relabelled 0..88.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from attrs import field, frozen, validators

from reidkit.adapters.data.readers import DatasetReader
from reidkit.adapters.data.readers._common import as_folder, find_root, has_dirs, layout_error, options_of
from reidkit.adapters.data.readers._video import numbered_frames, tracklet_dataset
from reidkit.domain.errors import DatasetError, one_line
from reidkit.domain.types import ReidDataset, Tracklet

TITLE = "PRID 2011 (multi-shot)"
SHOTS = "prid_2011/multi_shot"
SPLIT_FILE = "splits_prid2011.json"
LAYOUT = (
    f"{SHOTS}/cam_a/ and cam_b/ of 'person_<NNNN>/' frame folders and {SPLIT_FILE} (Torchreid's split file) "
    "in the root or its prid2011/"
)
SPLITS = 10
_PERSON = re.compile(r"^person_(\d+)$")


@frozen(kw_only=True)
class Prid2011Options:
    split_id: int = field(default=0, validator=[validators.instance_of(int), validators.ge(0), validators.lt(SPLITS)])
    split_file: str = field(default="", validator=validators.instance_of(str))  # "" = <root>/splits_prid2011.json


def read(root: str | Path, *, domain: str = "", options: Prid2011Options | None = None) -> ReidDataset:
    options = options_of(options, Prid2011Options)
    base = as_folder(root, TITLE, LAYOUT)
    found = find_root(base, ("prid2011",), has_dirs(f"{SHOTS}/cam_a", f"{SHOTS}/cam_b"))
    if found is None:
        raise layout_error(base, TITLE, LAYOUT)
    split_path = Path(options.split_file).expanduser() if options.split_file else found / SPLIT_FILE
    train_people, test_people = _split(split_path, options.split_id)
    train = [t for person in train_people for t in _sequences(found, person, ("cam_a", "cam_b"), domain, split_path)]
    query = [t for person in test_people for t in _sequences(found, person, ("cam_a",), domain, split_path)]
    gallery = [t for person in test_people for t in _sequences(found, person, ("cam_b",), domain, split_path)]
    return tracklet_dataset(domain or found.name, train, query, gallery, where=one_line(str(found)))


def _split(path: Path, split_id: int) -> tuple[list[str], list[str]]:
    if not path.is_file():
        raise DatasetError(
            f"{TITLE} needs its split file {one_line(str(path))}, which does not exist: Torchreid's "
            f"{SPLIT_FILE} (linked from its documentation's PRID2011 section), or data.sets.<name>.split_file"
        )
    try:
        splits = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise DatasetError(f"{TITLE} split file {one_line(str(path))} is not readable JSON ({one_line(str(error))})") from None
    if not isinstance(splits, list) or split_id >= len(splits):
        count = len(splits) if isinstance(splits, list) else 0
        raise DatasetError(f"{TITLE} split file {one_line(str(path))} holds {count} splits; split_id {split_id} needs {split_id + 1}")
    split = splits[split_id]
    lists = [split.get(key) if isinstance(split, dict) else None for key in ("train", "test")]
    if not all(isinstance(names, list) and names and all(isinstance(n, str) for n in names) for names in lists):
        raise DatasetError(f"{TITLE} split {split_id} of {one_line(str(path))} must be {{\"train\": [names], \"test\": [names]}}")
    return lists[0], lists[1]  # type: ignore[return-value]


def _sequences(found: Path, person: str, cameras: tuple[str, ...], domain: str, split_path: Path) -> list[Tracklet]:
    match = _PERSON.match(person)
    if match is None:
        raise DatasetError(f"{TITLE} split file {one_line(str(split_path))} names {one_line(person)!r}, not a person_<NNNN> folder")
    out = []
    for camera in cameras:
        folder = found / SHOTS / camera / person
        if not folder.is_dir():
            raise DatasetError(
                f"{TITLE} split file {one_line(str(split_path))} names {one_line(person)}, but {one_line(str(folder))} does not exist"
            )
        frames = numbered_frames(folder, TITLE)
        if not frames:
            raise DatasetError(f"{TITLE} sequence {one_line(str(folder))} holds no frames")
        out.append(Tracklet(frames=frames, pid=int(match.group(1)), camid=0 if camera == "cam_a" else 1, domain=domain))
    return out


READER = DatasetReader(
    name="prid2011",
    summary="PRID 2011 multi-shot (video, split_id 0..9, Torchreid's split file): train 89 ids/178 tracklets, "
    "query 89/89, gallery 89/89, 2 cameras",
    layout=LAYOUT,
    read=read,
    video=True,
    options=Prid2011Options,
)

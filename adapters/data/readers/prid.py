"""PRID 2011, single-shot (Hirzer et al., SCIA 2011): two static cameras.

Official statistics: camera A 385 persons, camera B 749 persons, the first 200 in both; one
image per person and camera. Protocol: 10 random halves of the 200 shared persons (``split_id``
0..9). Per split: train 100 ids / 200 images (both cameras), query 100 / 100 (camera A), gallery
649 ids / 649 images (camera B: the 100 test persons and the 549 seen only by B, persons
201..749, as distractors with their own ids). Camera A's persons 201..385 are not used.

    root/                       or root/prid_2011/ (the archive)
      single_shot/cam_a/person_0001.png
      single_shot/cam_b/person_0001.png

camid: cam_a 0, cam_b 1. Halves drawn with a string-seeded ``random.Random`` (the same
everywhere, nothing written beside the data).
"""

from __future__ import annotations

import re
from pathlib import Path

from attrs import field, frozen, validators

from reidkit.adapters.data.readers import DatasetReader
from reidkit.adapters.data.readers._common import (
    as_folder,
    dataset,
    find_root,
    has_dirs,
    layout_error,
    options_of,
    paired_cameras,
    split_draw,
)
from reidkit.domain.errors import DatasetError, one_line
from reidkit.domain.types import ImageRecord, ReidDataset

TITLE = "PRID 2011"
LAYOUT = "single_shot/cam_a/ and single_shot/cam_b/ of 'person_<NNNN>.png' files (in the root or its prid_2011/)"
SPLITS = 10
SHARED = 200
_NAME = re.compile(r"^person_(\d+)\.", re.IGNORECASE)


@frozen(kw_only=True)
class PridOptions:
    split_id: int = field(default=0, validator=[validators.instance_of(int), validators.ge(0), validators.lt(SPLITS)])


def read(root: str | Path, *, domain: str = "", options: PridOptions | None = None) -> ReidDataset:
    options = options_of(options, PridOptions)
    base = as_folder(root, TITLE, LAYOUT)
    found = find_root(base, ("prid_2011",), has_dirs("single_shot/cam_a", "single_shot/cam_b"))
    if found is None:
        raise layout_error(base, TITLE, LAYOUT)
    cam_a, cam_b = paired_cameras(found / "single_shot", ("cam_a", "cam_b"), _person, TITLE)
    shared = list(range(1, SHARED + 1))
    missing = [p for p in shared if p not in cam_a or p not in cam_b]
    if missing:
        where = "cam_a" if missing[0] not in cam_a else "cam_b"
        raise DatasetError(
            f"{TITLE} person {missing[0]} (persons 1..{SHARED} are in both cameras) has no image in "
            f"{one_line(str(found / 'single_shot' / where))}"
        )
    train_people = set(split_draw("prid", shared, SHARED // 2, options.split_id))
    train, query, gallery = [], [], []
    for person in shared:
        a = ImageRecord(path=cam_a[person], pid=person, camid=0, domain=domain)
        b = ImageRecord(path=cam_b[person], pid=person, camid=1, domain=domain)
        if person in train_people:
            train += [a, b]
        else:
            query.append(a)
            gallery.append(b)
    gallery += [ImageRecord(path=cam_b[p], pid=p, camid=1, domain=domain) for p in sorted(cam_b) if p > SHARED]
    return dataset(domain or found.name, train, query, gallery, where=one_line(str(found)))


def _person(name: str) -> int:
    match = _NAME.match(name)
    if match is None:
        raise ValueError(f"file name {one_line(name)!r} is not a PRID name (like person_0001.png)")
    return int(match.group(1))


READER = DatasetReader(
    name="prid",
    summary="PRID 2011 single-shot: 10 splits of train 100 ids/200 images, query 100/100, gallery 649 "
    "(100 + 549 seen once)/649, 2 cameras",
    layout=LAYOUT,
    read=read,
    options=PridOptions,
    junk_pids=tuple(range(SHARED + 1, 750)),  # camera B's people never seen by camera A (Torchreid's _junk_pids)
)

"""QMUL-iLIDS (Zheng et al., BMVC 2009): 119 persons, 476 images from airport cameras, camera
labels not given.

Official statistics: 119 ids, 476 images. Protocol (Torchreid's): 10 random splits
(``split_id`` 0..9) of 59 training persons (all their images) and 60 test persons, of whom two
images are drawn at random: one the query, the other the gallery image (60 / 60 each).

    root/                       or root/i-LIDS_Pedestrian/Persons/ or root/Persons/ (i-LIDS_Pedestrian.tgz)
      0001001.jpg               '<person: 4 digits><image: 3 digits>.jpg'

The draws are Python ``random.Random`` seeded from (dataset, split), the same everywhere, and
nothing is written beside the data. Torchreid draws from the global RNG once and caches the draw
in a JSON file, and it takes the image number as the camera id; the dataset has no camera labels,
so here the query is camera 0 and the gallery camera 1 (the protocol then filters nothing, as the
two images of a test person are meant to match), and the training images are camera 0.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from attrs import field, frozen, validators

from reidkit.adapters.data.readers import DatasetReader
from reidkit.adapters.data.readers._common import (
    as_folder,
    dataset,
    find_root,
    layout_error,
    options_of,
    scan_images,
    split_draw,
)
from reidkit.domain.errors import DatasetError, one_line
from reidkit.domain.types import ImageRecord, ReidDataset

TITLE = "QMUL-iLIDS"
LAYOUT = "'<person: 4 digits><image: 3 digits>.jpg' files (in the root, its i-LIDS_Pedestrian/Persons/ or Persons/)"
SPLITS = 10


@frozen(kw_only=True)
class IlidsOptions:
    split_id: int = field(default=0, validator=[validators.instance_of(int), validators.ge(0), validators.lt(SPLITS)])


def _holds_images(folder: Path) -> bool:
    return folder.is_dir() and any(_is_ilids_name(name) for name in os.listdir(folder))


def _is_ilids_name(name: str) -> bool:
    stem, ext = os.path.splitext(name)
    return ext.lower() == ".jpg" and len(stem) == 7 and stem.isdigit()


def read(root: str | Path, *, domain: str = "", options: IlidsOptions | None = None) -> ReidDataset:
    options = options_of(options, IlidsOptions)
    base = as_folder(root, TITLE, LAYOUT)
    found = find_root(base, (os.path.join("i-LIDS_Pedestrian", "Persons"), "Persons"), _holds_images)
    if found is None:
        raise layout_error(base, TITLE, LAYOUT)
    by_person: dict[int, list[str]] = {}
    for name in scan_images(found)[0]:
        if not _is_ilids_name(name):
            raise DatasetError(f"file name {one_line(name)!r} in {one_line(str(found))} is not a QMUL-iLIDS name (like 0001001.jpg)")
        by_person.setdefault(int(name[:4]), []).append(os.path.join(found, name))
    people = sorted(by_person)
    single = [p for p in people if len(by_person[p]) < 2]
    if single:
        raise DatasetError(f"{TITLE} person {single[0]} has one image in {one_line(str(found))}; every person needs two")
    train_people = set(split_draw("ilids", people, len(people) // 2, options.split_id))
    draw = random.Random(f"ilids-pairs-{options.split_id}")
    train, query, gallery = [], [], []
    for person in people:
        if person in train_people:
            train += [ImageRecord(path=path, pid=person, camid=0, domain=domain) for path in by_person[person]]
            continue
        first, second = draw.sample(by_person[person], 2)
        query.append(ImageRecord(path=first, pid=person, camid=0, domain=domain))
        gallery.append(ImageRecord(path=second, pid=person, camid=1, domain=domain))
    return dataset(domain or "ilids", train, query, gallery, where=one_line(str(found)))


READER = DatasetReader(
    name="ilids",
    summary="QMUL-iLIDS: 119 ids/476 images, no camera labels; 10 splits of train 59 ids, query 60/60, gallery 60/60",
    layout=LAYOUT,
    read=read,
    options=IlidsOptions,
)

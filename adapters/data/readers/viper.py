"""VIPeR (Gray et al., PETS 2007): 632 persons, one image in each of two cameras.

Official statistics: 632 ids, 1,264 images, 2 cameras. Protocol: 10 random halves (316 train
ids, 316 test ids), each read both ways (query camera A, gallery camera B, then the reverse):
20 splits (``split_id`` 0..19; splits 2k and 2k+1 share their training half). Per split: train
316 ids / 632 images, query 316 / 316, gallery 316 / 316.

    root/                       or root/VIPeR/ (VIPeR.v1.0.zip unzipped)
      cam_a/000_45.bmp          '<person>_<angle>.bmp': the person's number, the same in both
      cam_b/000_90.bmp

The halves are drawn by Python's ``random.Random`` seeded with (dataset, draw), so a split is
the same everywhere; nothing is written beside the data (Torchreid draws from the global RNG
once and caches the draw in a JSON file, so its splits depend on who made the file). Train is
relabelled; query and gallery keep the person numbers. camid: cam_a 0, cam_b 1.
"""

from __future__ import annotations

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

TITLE = "VIPeR"
LAYOUT = "cam_a/ and cam_b/ of '<person>_<angle>.bmp' files, one per person in each (in the root or its VIPeR/)"
SPLITS = 20


@frozen(kw_only=True)
class ViperOptions:
    split_id: int = field(default=0, validator=[validators.instance_of(int), validators.ge(0), validators.lt(SPLITS)])


def read(root: str | Path, *, domain: str = "", options: ViperOptions | None = None) -> ReidDataset:
    options = options_of(options, ViperOptions)
    base = as_folder(root, TITLE, LAYOUT)
    found = find_root(base, ("VIPeR",), has_dirs("cam_a", "cam_b"))
    if found is None:
        raise layout_error(base, TITLE, LAYOUT)
    cameras = paired_cameras(found, ("cam_a", "cam_b"), _person, TITLE)
    unpaired = sorted(set(cameras[0]) ^ set(cameras[1]))
    if unpaired:
        where = "cam_b" if unpaired[0] in cameras[0] else "cam_a"
        raise DatasetError(f"{TITLE} person {unpaired[0]} has no image in {one_line(str(found / where))}")
    people = sorted(cameras[0])
    train_people = set(split_draw("viper", people, len(people) // 2, options.split_id // 2))
    train, test = [], ([], [])
    for camid, images in enumerate(cameras):
        for person, path in sorted(images.items()):
            record = ImageRecord(path=path, pid=person, camid=camid, domain=domain)
            (train if person in train_people else test[camid]).append(record)
    query, gallery = (test[0], test[1]) if options.split_id % 2 == 0 else (test[1], test[0])
    return dataset(domain or found.name, train, query, gallery, where=one_line(str(found)))


def _person(name: str) -> int:
    head = name.split("_", 1)[0]
    if not head.isdigit():
        raise ValueError(f"file name {one_line(name)!r} is not a VIPeR name (like 000_45.bmp)")
    return int(head)


READER = DatasetReader(
    name="viper",
    summary="VIPeR: 632 ids/1,264 images, 2 cameras; 20 splits of train 316 ids/632 images, query 316/316, "
    "gallery 316/316",
    layout=LAYOUT,
    read=read,
    options=ViperOptions,
)

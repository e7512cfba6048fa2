"""CUHK02 (Li and Wang, CVPR 2013): five camera pairs P1..P5, two images of each person in each
camera of its pair; person numbers restart in every pair.

Official statistics: 971, 306, 107, 193 and 239 persons in P1..P5 (1,816 in all), 7,264 images,
10 cameras. Protocol (Torchreid's): P1..P4 train (1,577 ids / 6,308 images), P5 test: its first
camera the query (239 ids / 478 images), its second the gallery (239 / 478).

    root/                       or root/Dataset/ or root/cuhk02/Dataset/ (the archive's folder)
      P1/cam1/0001_1.png        '<person>_<n>.png'; the person's number is the pair's own
      P1/cam2/0001_3.png
      ...
      P5/cam1/  P5/cam2/

Training persons of different pairs are different people with the same numbers, so each pair's
are kept apart before relabelling. camid: pair i's cameras are 2i and 2i+1 (0..9), as Torchreid
numbers them. CUHK01 is CUHK02's P1: do not train on one and test on the other.
"""

from __future__ import annotations

import os
from pathlib import Path

from reidkit.adapters.data.readers import DatasetReader
from reidkit.adapters.data.readers._common import as_folder, dataset, find_root, has_dirs, layout_error, scan_images
from reidkit.domain.errors import DatasetError, one_line
from reidkit.domain.types import ImageRecord, ReidDataset

TITLE = "CUHK02"
PAIRS = ("P1", "P2", "P3", "P4", "P5")
TEST_PAIR = "P5"
LAYOUT = "P1/ .. P5/, each with cam1/ and cam2/ of '<person>_<n>.png' files (in the root, its Dataset/ or cuhk02/Dataset/)"
# a training person's number within its pair, below this, keeps pairs apart before relabelling
_PAIR_SPAN = 100_000


def read(root: str | Path, *, domain: str = "", options: None = None) -> ReidDataset:
    if options is not None:
        raise TypeError(f"{TITLE} has no options, got {type(options).__name__}")
    base = as_folder(root, TITLE, LAYOUT)
    found = find_root(base, ("Dataset", os.path.join("cuhk02", "Dataset")), has_dirs(*PAIRS))
    if found is None:
        raise layout_error(base, TITLE, LAYOUT)
    train, query, gallery = [], [], []
    for index, pair in enumerate(PAIRS):
        for side, camera in enumerate(("cam1", "cam2")):
            folder = found / pair / camera
            if not folder.is_dir():
                raise DatasetError(f"{TITLE} pair {pair} has no {camera}/ folder: {one_line(str(folder))}")
            camid = 2 * index + side
            for name in scan_images(folder)[0]:
                person = _person(name, folder)
                path = os.path.join(folder, name)
                if pair == TEST_PAIR:
                    (query if side == 0 else gallery).append(ImageRecord(path=path, pid=person, camid=camid, domain=domain))
                else:
                    train.append(ImageRecord(path=path, pid=index * _PAIR_SPAN + person, camid=camid, domain=domain))
    return dataset(domain or found.name, train, query, gallery, where=one_line(str(found)))


def _person(name: str, folder: Path) -> int:
    head = name.split("_", 1)[0]
    if not head.isdigit() or int(head) >= _PAIR_SPAN:
        raise DatasetError(f"file name {one_line(name)!r} in {one_line(str(folder))} is not a CUHK02 name (like 0001_1.png)")
    return int(head)


READER = DatasetReader(
    name="cuhk02",
    summary="CUHK02: 1,816 ids/7,264 images in 5 camera pairs, 10 cameras; train P1-P4 1,577 ids/6,308 images, "
    "query P5 cam1 239/478, gallery P5 cam2 239/478",
    layout=LAYOUT,
    read=read,
)

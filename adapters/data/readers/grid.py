"""GRID (Loy et al., CVPR 2009): the QMUL underground re-ID set, 8 cameras.

Official statistics: 250 persons seen twice (a probe and a gallery image), plus 775 gallery
images of people seen once (pid 0: distractors); 1,275 images, 8 cameras. Protocol: the 10 splits
of ``features_and_partitions.mat`` (125 train persons each; ``split_id`` 0..9). Per split: train
125 ids / 250 images, query 125 / 125, gallery 126 ids (125 + distractor pid 0) / 900 images.

    root/                       or root/underground_reid/ (underground_reid.zip unzipped)
      probe/0001_1_25004_107_32_130.jpeg       '<person>_<camera>_...': camera 1..8
      gallery/0000_5_25052_126_30_116.jpeg     person 0000 = seen once (a distractor)
      features_and_partitions.mat              trainIdxAll: the 10 splits' train persons

Train takes both images of a split's train persons (relabelled); query the other probe images,
gallery the other gallery images with every distractor (raw person numbers). camid = camera - 1.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from attrs import field, frozen, validators

from reidkit.adapters.data.readers import DatasetReader
from reidkit.adapters.data.readers._common import as_folder, dataset, find_root, layout_error, options_of, scan_images
from reidkit.domain.errors import DatasetError, one_line
from reidkit.domain.types import ImageRecord, ReidDataset

TITLE = "GRID"
MAT = "features_and_partitions.mat"
LAYOUT = f"probe/ and gallery/ of '<person>_<camera>_...jpeg' files and {MAT} (in the root or its underground_reid/)"
SPLITS = 10


@frozen(kw_only=True)
class GridOptions:
    split_id: int = field(default=0, validator=[validators.instance_of(int), validators.ge(0), validators.lt(SPLITS)])


def _fits(folder: Path) -> bool:
    return (folder / "probe").is_dir() and (folder / "gallery").is_dir() and (folder / MAT).is_file()


def read(root: str | Path, *, domain: str = "", options: GridOptions | None = None) -> ReidDataset:
    options = options_of(options, GridOptions)
    base = as_folder(root, TITLE, LAYOUT)
    found = find_root(base, ("underground_reid",), _fits)
    if found is None:
        raise layout_error(base, TITLE, LAYOUT)
    train_people = train_persons(found / MAT, options.split_id)
    train, query, gallery = [], [], []
    for folder, test in (("probe", query), ("gallery", gallery)):
        names, _ = scan_images(found / folder)
        for name in names:
            person, camera = _parse(name, found / folder)
            record = ImageRecord(path=os.path.join(found, folder, name), pid=person, camid=camera - 1, domain=domain)
            (train if person in train_people else test).append(record)
    return dataset(domain or found.name, train, query, gallery, where=one_line(str(found)))


def train_persons(mat: Path, split_id: int) -> set[int]:
    from scipy.io import loadmat  # noqa: PLC0415 - scipy is a dependency; only GRID reads it

    try:
        cells = loadmat(str(mat))["trainIdxAll"].reshape(-1)
        # each cell: a 1x1 struct whose third field holds the split's train person numbers
        people = np.asarray(cells[split_id].reshape(-1)[0][2]).reshape(-1).astype(int)
    except (KeyError, IndexError, ValueError, TypeError, NotImplementedError) as error:
        raise DatasetError(
            f"{one_line(str(mat))} has no split {split_id} in trainIdxAll (10 cells of 125 train persons): "
            f"{one_line(str(error))}"
        ) from None
    return {int(p) for p in people}


def _parse(name: str, folder: Path) -> tuple[int, int]:
    fields = name.split("_")
    if len(fields) < 3 or not fields[0].isdigit() or not fields[1].isdigit() or not 1 <= int(fields[1]) <= 8:
        raise DatasetError(
            f"file name {one_line(name)!r} is not a GRID name (like 0001_1_25004_107_32_130.jpeg, camera 1..8) "
            f"in {one_line(str(folder))}"
        )
    return int(fields[0]), int(fields[1])


READER = DatasetReader(
    name="grid",
    summary="GRID: 250 paired ids + 775 distractors, 1,275 images, 8 cameras; 10 splits of train 125 ids/250 "
    "images, query 125/125, gallery 126 (125 + distractors)/900",
    layout=LAYOUT,
    read=read,
    options=GridOptions,
    junk_pids=(0,),
)

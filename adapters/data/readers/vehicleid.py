"""VehicleID (Liu et al., CVPR 2016): vehicles from above, no camera labels.

Official statistics: train 13,164 ids / 113,346 images; test lists of 800 ids / 7,332 images,
1,600 ids / 12,995 images and 2,400 ids / 20,038 images. With ``test_size`` = 800 the gallery
holds one image per identity (800 images) and the query the rest (6,532 images).

    root/                       or root/VehicleID_V1.0/ (the official archive's folder)
      image/0000001.jpg
      train_test_split/train_list.txt             lines '<image name without extension> <vid>'
      train_test_split/test_list_800.txt          ...1600.txt, ...2400.txt

Protocol: per trial, one gallery image is drawn for each test identity and the other images of
the test list are queries; results are averaged over 10 trials. A ``ReidDataset`` holds one
query/gallery split, so the reader reads one trial (option ``trial``, 0..): the draw is seeded by
(test_size, trial) with Python's ``random.Random`` (string seeds hash alike everywhere), so a
trial is the same split on every machine and every run (the peers redraw it unseeded). To follow
the protocol, evaluate trials 0..9 and average their metrics.

No cameras: train and query images get camid 0 and gallery images camid 1, so the Market
protocol (which drops gallery images of the query's identity under the query's camera) filters
nothing, and every query's one gallery image of its identity counts as its match.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Literal

from attrs import field, frozen, validators

from reidkit.adapters.data.readers import DatasetReader
from reidkit.adapters.data.readers._common import as_folder, dataset, find_root, layout_error, options_of, scan_images
from reidkit.domain.errors import DatasetError, one_line
from reidkit.domain.types import ImageRecord, ReidDataset

TITLE = "VehicleID"
LAYOUT = (
    "image/ and train_test_split/ with train_list.txt and test_list_{800,1600,2400}.txt of "
    "'<image name> <vid>' lines (in the root or its VehicleID_V1.0/)"
)
QUERY_CAMID, GALLERY_CAMID = 0, 1


@frozen(kw_only=True)
class VehicleIdOptions:
    test_size: Literal[800, 1600, 2400] = field(default=800, validator=validators.in_((800, 1600, 2400)))
    trial: int = field(default=0, validator=[validators.instance_of(int), validators.ge(0)])


def _fits(folder: Path) -> bool:
    return (folder / "image").is_dir() and (folder / "train_test_split" / "train_list.txt").is_file()


def read(root: str | Path, *, domain: str = "", options: VehicleIdOptions | None = None) -> ReidDataset:
    options = options_of(options, VehicleIdOptions)
    base = as_folder(root, TITLE, LAYOUT)
    found = find_root(base, ("VehicleID_V1.0",), _fits)
    if found is None:
        raise layout_error(base, TITLE, LAYOUT)
    names, _ = scan_images(found / "image")
    by_stem = {Path(name).stem: name for name in names}
    split = found / "train_test_split"
    test_list = split / f"test_list_{options.test_size}.txt"
    if not test_list.is_file():
        raise DatasetError(f"{TITLE} test list {one_line(str(test_list))} does not exist (test_size = {options.test_size})")
    image_dir = found / "image"
    prefix = os.path.join(image_dir, "")
    train = [
        ImageRecord(path=prefix + name, pid=vid, camid=0, domain=domain)
        for name, vid in read_list(split / "train_list.txt", image_dir, by_stem)
    ]
    by_vid: dict[int, list[str]] = {}
    for name, vid in read_list(test_list, image_dir, by_stem):
        by_vid.setdefault(vid, []).append(name)
    draw = random.Random(f"vehicleid-{options.test_size}-{options.trial}")
    query, gallery = [], []
    for vid in sorted(by_vid):
        images = sorted(by_vid[vid])
        chosen = draw.randrange(len(images))
        for index, name in enumerate(images):
            if index == chosen:
                gallery.append(ImageRecord(path=prefix + name, pid=vid, camid=GALLERY_CAMID, domain=domain))
            else:
                query.append(ImageRecord(path=prefix + name, pid=vid, camid=QUERY_CAMID, domain=domain))
    return dataset(domain or found.name, train, query, gallery, where=one_line(str(found)))


def read_list(path: Path, image_dir: Path, by_stem: dict[str, str]) -> list[tuple[str, int]]:
    """(image file name, vid) of each line; a problem is one line naming the list file and line."""
    where = one_line(str(path))
    rows = []
    with path.open(encoding="utf-8", errors="surrogateescape") as lines:
        for number, line in enumerate(lines, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or not fields[1].lstrip("-").isdigit():
                raise DatasetError(f"{where} line {number}: expected '<image name> <vid>', got {one_line(line.strip())!r}")
            root_name, extension = os.path.splitext(fields[0])
            stem = root_name if extension.lower() in (".jpg", ".jpeg", ".png") else fields[0]
            name = by_stem.get(stem)
            if name is None:
                raise DatasetError(f"{where} line {number}: image {one_line(str(image_dir / stem))}.jpg does not exist")
            vid = int(fields[1])
            if vid >= 0:
                rows.append((name, vid))
    return rows


READER = DatasetReader(
    name="vehicleid",
    summary="VehicleID vehicles: train 13,164 ids/113,346 images; test 800/7,332 (query 6,532, gallery 800), "
    "1,600/12,995, 2,400/20,038; no cameras",
    layout=LAYOUT,
    read=read,
    options=VehicleIdOptions,
)

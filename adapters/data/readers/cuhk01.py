"""CUHK01 (Li et al., ACCV 2012): 971 persons, two images in each of two camera views.

Official statistics: 971 ids, 3,884 images, 2 camera views. Protocol: 10 random halves (485 train
ids, 486 test ids), each read both ways (query view A, gallery view B, then the reverse): 20
splits (``split_id`` 0..19). Per split: train 485 ids / 1,940 images, query 486 / 972, gallery
486 / 972.

    root/                       or root/campus/ (CUHK01.zip unzipped)
      campus/0001001.png        '<person:4><image:3>.png': images 001-002 view A, 003-004 view B

camid = view (0 for images 1-2, 1 for images 3-4), as the peers. The halves are drawn with a
string-seeded ``random.Random``, the same everywhere; nothing is written beside the data.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from attrs import field, frozen, validators

from reidkit.adapters.data.readers import DatasetReader
from reidkit.adapters.data.readers._common import as_folder, dataset, layout_error, options_of, scan_images, split_draw
from reidkit.domain.errors import DatasetError, one_line
from reidkit.domain.types import ImageRecord, ReidDataset

TITLE = "CUHK01"
LAYOUT = "campus/ of '<person:4><image:3>.png' files, e.g. 0001001.png (in the root, or the root is campus/)"
SPLITS = 20
_NAME = re.compile(r"^(\d{4})(\d{3})\.png$", re.IGNORECASE)


@frozen(kw_only=True)
class Cuhk01Options:
    split_id: int = field(default=0, validator=[validators.instance_of(int), validators.ge(0), validators.lt(SPLITS)])


def read(root: str | Path, *, domain: str = "", options: Cuhk01Options | None = None) -> ReidDataset:
    options = options_of(options, Cuhk01Options)
    base = as_folder(root, TITLE, LAYOUT)
    folder = base / "campus" if (base / "campus").is_dir() else base
    names, _ = scan_images(folder)
    parsed = [(name, _NAME.match(name)) for name in names]
    if not parsed or any(match is None for _, match in parsed):
        odd = next((name for name, match in parsed if match is None), None)
        if odd is None or not any(match for _, match in parsed):
            raise layout_error(base, TITLE, LAYOUT)
        raise DatasetError(f"file name {one_line(odd)!r} is not a CUHK01 name (like 0001001.png) in {one_line(str(folder))}")
    people = sorted({int(match.group(1)) for _, match in parsed if match})
    train_people = set(split_draw("cuhk01", people, len(people) // 2, options.split_id // 2))
    query_view = options.split_id % 2
    train, query, gallery = [], [], []
    for name, match in parsed:
        assert match is not None
        person, image = int(match.group(1)), int(match.group(2))
        view = (image - 1) // 2
        if view not in (0, 1):
            raise DatasetError(f"file name {name!r} has image {image}; CUHK01 numbers a person's images 001..004")
        record = ImageRecord(path=os.path.join(folder, name), pid=person, camid=view, domain=domain)
        if person in train_people:
            train.append(record)
        else:
            (query if view == query_view else gallery).append(record)
    return dataset(domain or base.name, train, query, gallery, where=one_line(str(folder)))


READER = DatasetReader(
    name="cuhk01",
    summary="CUHK01: 971 ids/3,884 images, 2 views; 20 splits of train 485 ids/1,940 images, query 486/972, "
    "gallery 486/972",
    layout=LAYOUT,
    read=read,
    options=Cuhk01Options,
)

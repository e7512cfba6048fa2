"""A generic layout: one CSV file listing every image with its identity, camera and split.

    root/manifest.csv           (or root is the CSV file itself; option ``file`` names another)
        path,pid,camid,split
        images/alice_01.jpg,1,0,train
        /abs/path/x.png,7,2,query
        images/bob_3.jpg,7,1,gallery

Columns (a header line naming them is required; their order is free, more columns are ignored):
``path`` relative to the CSV file's folder (or absolute); ``pid`` an integer, -1 = junk (dropped),
0 = distractor (kept in the gallery); ``camid`` an integer from 0, as written (0-based);
``split`` one of train, query, gallery. Train is relabelled 0..N-1 in sorted pid order; query and
gallery keep their pids. Without query and gallery rows nothing evaluates on the dataset.
Every problem, a missing image included, is one line naming the CSV's line.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from attrs import field, frozen, validators

from reidkit.adapters.data.readers import DatasetReader
from reidkit.adapters.data.readers._common import dataset, is_image_name, listing, options_of
from reidkit.domain.errors import DatasetError, one_line
from reidkit.domain.types import ImageRecord, ReidDataset

TITLE = "manifest"
COLUMNS = ("path", "pid", "camid", "split")
SPLITS = ("train", "query", "gallery")
LAYOUT = "a CSV file (the root itself, or manifest.csv in it) with a header path,pid,camid,split"


@frozen(kw_only=True)
class ManifestOptions:
    file: str = field(default="manifest.csv", validator=validators.instance_of(str))


def read(root: str | Path, *, domain: str = "", options: ManifestOptions | None = None) -> ReidDataset:
    options = options_of(options, ManifestOptions)
    given = Path(root).expanduser().absolute()
    path = given / options.file if given.is_dir() else given
    if not path.is_file():
        held = f" (it holds {listing(given)})" if given.is_dir() else ""
        raise DatasetError(f"{one_line(str(path))} does not exist{held}; expected {LAYOUT}")
    where = one_line(str(path))
    folder = path.parent
    splits: dict[str, list[ImageRecord]] = {name: [] for name in SPLITS}
    with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
        rows = csv.reader(handle)
        header = [h.strip().lower() for h in next(rows, [])]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise DatasetError(f"{where} line 1: the header lacks {', '.join(missing)}; expected {LAYOUT}")
        column = {c: header.index(c) for c in COLUMNS}
        for row in rows:
            number = rows.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < len(header):
                raise DatasetError(f"{where} line {number}: {len(row)} fields, the header has {len(header)}")
            text = {c: row[i].strip() for c, i in column.items()}
            try:
                pid, camid = int(text["pid"]), int(text["camid"])
            except ValueError:
                raise DatasetError(
                    f"{where} line {number}: pid {text['pid']!r} and camid {text['camid']!r} must be integers"
                ) from None
            if text["split"] not in SPLITS:
                raise DatasetError(f"{where} line {number}: split {one_line(text['split'])!r} is not one of {', '.join(SPLITS)}")
            if pid < -1 or camid < 0:
                raise DatasetError(f"{where} line {number}: pid {pid} must be >= -1 (-1 = junk) and camid {camid} >= 0")
            image = Path(text["path"])
            image = image if image.is_absolute() else folder / image
            if not is_image_name(image.name):
                raise DatasetError(f"{where} line {number}: {one_line(text['path'])!r} is not an image file name")
            if not os.path.isfile(image):
                raise DatasetError(f"{where} line {number}: {one_line(str(image))} does not exist")
            if pid == -1:
                continue
            splits[text["split"]].append(ImageRecord(path=str(image), pid=pid, camid=camid, domain=domain))
    query, gallery = splits["query"], splits["gallery"]
    if bool(query) != bool(gallery):
        raise DatasetError(f"{where} has {'query' if query else 'gallery'} rows but no {'gallery' if query else 'query'} rows")
    return dataset(domain or path.stem, splits["train"], query, gallery, where=where, evaluated=bool(query))


READER = DatasetReader(
    name="manifest",
    summary="your own images listed in a CSV (path,pid,camid,split); no official statistics",
    layout=LAYOUT,
    read=read,
    options=ManifestOptions,
)

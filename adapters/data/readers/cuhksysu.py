"""CUHK-SYSU (Xiao et al., CVPR 2017, person search) as re-ID crops: a training source only.

Official statistics (the crops of the labelled persons): train 11,934 ids / 34,574 images; no
cameras (every camid 0); query and gallery empty, so nothing evaluates on it.

    root/                       or root/cuhksysu/
      cropped_images/p11422_s16929_1.jpg      'p<person>_s<scene>_<n>.jpg'

The official archive holds whole scenes with boxes (annotation .mat files); the crops are made
with the cropping script Torchreid's instructions point to, which writes these names.
"""

from __future__ import annotations

import re
from pathlib import Path

from reidkit.adapters.data.readers import DatasetReader
from reidkit.adapters.data.readers._common import (
    as_folder,
    dataset,
    find_root,
    has_dirs,
    layout_error,
    read_named_split,
)
from reidkit.domain.errors import one_line
from reidkit.domain.types import ReidDataset

TITLE = "CUHK-SYSU"
LAYOUT = "cropped_images/ of 'p<person>_s<scene>_<n>.jpg' files (in the root or its cuhksysu/); train only"
_NAME = re.compile(r"^p(\d+)_s\d+")


def _parse(name: str) -> tuple[int, int]:
    match = _NAME.match(name)
    if match is None:
        raise ValueError(f"file name {one_line(name)!r} is not a CUHK-SYSU crop name (like p11422_s16929_1.jpg)")
    return int(match.group(1)), 0


def read(root: str | Path, *, domain: str = "", options: None = None) -> ReidDataset:
    base = as_folder(root, TITLE, LAYOUT)
    found = find_root(base, ("cuhksysu",), has_dirs("cropped_images"))
    if found is None:
        raise layout_error(base, TITLE, LAYOUT)
    train = read_named_split(found / "cropped_images", _parse, domain, TITLE)
    return dataset(domain or found.name, train, where=one_line(str(found)), evaluated=False)


READER = DatasetReader(
    name="cuhksysu",
    summary="CUHK-SYSU crops (train only, no cameras): train 11,934 ids/34,574 images",
    layout=LAYOUT,
    read=read,
)

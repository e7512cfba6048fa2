"""SenseReID (Zhao et al., CVPR 2017, Spindle Net): a test-only set; train is empty.

Official statistics: query 522 ids / 1,040 images, gallery 1,717 ids / 3,388 images.

    root/                       or root/SenseReID/ (the archive)
      test_probe/0000000_0.jpg        '<pid>_<camid>.jpg', camid as written (0-based)
      test_gallery/0000000_1.jpg

Query and gallery keep the pids of the names (Torchreid relabels them and copies them into a
dummy train set; here train is empty: use this dataset as an evaluation target only).
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

TITLE = "SenseReID"
LAYOUT = "test_probe/ and test_gallery/ of '<pid>_<camid>.jpg' files (in the root or its SenseReID/)"
_NAME = re.compile(r"^(\d+)_(\d+)\.[^.]+$")


def _parse(name: str) -> tuple[int, int]:
    match = _NAME.match(name)
    if match is None:
        raise ValueError(f"file name {one_line(name)!r} is not a SenseReID name (like 0000000_0.jpg)")
    return int(match.group(1)), int(match.group(2))


def read(root: str | Path, *, domain: str = "", options: None = None) -> ReidDataset:
    base = as_folder(root, TITLE, LAYOUT)
    found = find_root(base, ("SenseReID",), has_dirs("test_probe", "test_gallery"))
    if found is None:
        raise layout_error(base, TITLE, LAYOUT)
    query = read_named_split(found / "test_probe", _parse, domain, TITLE)
    gallery = read_named_split(found / "test_gallery", _parse, domain, TITLE)
    return dataset(domain or found.name, (), query, gallery, where=one_line(str(found)), trained=False)


READER = DatasetReader(
    name="sensereid",
    summary="SenseReID (test only, no train): query 522 ids/1,040 images, gallery 1,717/3,388",
    layout=LAYOUT,
    read=read,
)

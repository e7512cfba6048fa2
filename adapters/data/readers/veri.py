"""VeRi-776 (Liu et al., ICME 2016 / ECCV 2016): vehicles seen by 20 cameras.

Official statistics: train 576 ids / 37,778 images, query 200 ids / 1,678 images, gallery (the
test set) 200 ids / 11,579 images; 20 cameras (c001..c020; camid 0..19).

    root/                       or root/VeRi/ (the official archive's folder)
      image_train/0001_c001_00016450_0.jpg     train, pids relabelled 0..575
      image_query/0002_c002_00030600_0.jpg     query, raw pids
      image_test/0002_c003_00084280_1.jpg      gallery, raw pids

The archive's name_*.txt and XML files are not needed: the folders are listed. Only the file name
is parsed (``<pid>_c<camera>_<frame>_<n>``, cameras 1..20). The VeRi protocol evaluates each query
against the gallery minus the same vehicle under the same camera: the Market protocol, as here.
"""

from __future__ import annotations

import re
from pathlib import Path

from reidkit.adapters.data.readers import DatasetReader
from reidkit.adapters.data.readers._common import name_parser, read_named_layout
from reidkit.domain.types import ReidDataset

TITLE = "VeRi-776"
SPLITS = ("image_train", "image_query", "image_test")
LAYOUT = "image_train/, image_query/ and image_test/ of '<vid>_c<001..020>_<frame>_<n>.jpg' files (in the root or its VeRi/)"
_parse = name_parser(re.compile(r"^(-?\d+)_c(\d+)_"), TITLE, "0001_c001_00016450_0.jpg", range(1, 21))


def read(root: str | Path, *, domain: str = "", options: None = None) -> ReidDataset:
    return read_named_layout(
        root, domain=domain, title=TITLE, layout=LAYOUT, archives=("VeRi", "VeRi_with_plate"), splits=SPLITS, parse=_parse
    )


READER = DatasetReader(
    name="veri",
    summary="VeRi-776 vehicles: train 576 ids/37,778 images, query 200/1,678, gallery 200/11,579, 20 cameras",
    layout=LAYOUT,
    read=read,
)

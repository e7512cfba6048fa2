"""DukeMTMC-reID (Zheng et al., ICCV 2017; from DukeMTMC, Ristani et al. 2016).

Official statistics: train 702 ids / 16,522 images, query 702 ids / 2,228 images, gallery 1,110
ids (702 + 408 distractor ids) / 17,661 images; 8 cameras (c1..c8; camid 0..7).

    root/                       or root/DukeMTMC-reID/ (the official archive's folder)
      bounding_box_train/0005_c2_f0046985.jpg    train, pids relabelled 0..701
      query/0005_c5_f0051781.jpg                  query, raw pids
      bounding_box_test/0002_c1_f0044158.jpg      gallery, raw pids (distractor ids kept)

Names must be DukeMTMC-reID's ``<pid>_c<camera>_f<frame>``, cameras 1..8: a Market-1501 tree
(``0002_c1s1_...``) has the same folders, and is refused by its names. The file name alone is
parsed; pid -1 (none in the release) would be dropped as junk.
"""

from __future__ import annotations

import re
from pathlib import Path

from reidkit.adapters.data.readers import DatasetReader
from reidkit.adapters.data.readers._common import name_parser, read_named_layout
from reidkit.domain.types import ReidDataset

TITLE = "DukeMTMC-reID"
SPLITS = ("bounding_box_train", "query", "bounding_box_test")
LAYOUT = (
    "bounding_box_train/, query/ and bounding_box_test/ of '<pid>_c<1..8>_f<frame>.jpg' files "
    "(in the root or its DukeMTMC-reID/)"
)
_parse = name_parser(re.compile(r"^(-?\d+)_c(\d+)_f\d+"), TITLE, "0005_c2_f0046985.jpg", range(1, 9))


def read(root: str | Path, *, domain: str = "", options: None = None) -> ReidDataset:
    return read_named_layout(
        root, domain=domain, title=TITLE, layout=LAYOUT, archives=("DukeMTMC-reID",), splits=SPLITS, parse=_parse
    )


READER = DatasetReader(
    name="dukemtmc",
    summary="DukeMTMC-reID: train 702 ids/16,522 images, query 702/2,228, gallery 1,110 (408 distractor ids)"
    "/17,661, 8 cameras",
    layout=LAYOUT,
    read=read,
)

"""PersonX (Sun & Zheng, CVPR 2019): synthetic persons rendered in Unity, as used for domain
adaptation by SpCL and OpenUnReID (its ``subset1``).

Official statistics: train 410 ids / 9,840 images, query 856 ids / 5,136 images, gallery 856 ids /
30,816 images; 6 cameras (numbered c3, c4, c8, c10, c11, c12 in the names; camid = number - 1, so
2, 3, 7, 9, 10, 11: the numbers are kept, not compacted as OpenUnReID does to 0..5).

    root/                       or root/subset1/
      bounding_box_train/0001_c3_0001.jpg       train, pids relabelled 0..409
      query/...                                  query, raw pids
      bounding_box_test/...                      gallery, raw pids

Only the file name is parsed (``<pid>_c<camera>``, cameras read whole); pid -1 dropped as junk.
"""

from __future__ import annotations

import re
from pathlib import Path

from reidkit.adapters.data.readers import DatasetReader
from reidkit.adapters.data.readers._common import name_parser, read_named_layout
from reidkit.domain.types import ReidDataset

TITLE = "PersonX"
SPLITS = ("bounding_box_train", "query", "bounding_box_test")
LAYOUT = (
    "bounding_box_train/, query/ and bounding_box_test/ of '<pid>_c<camera>...jpg' files "
    "(in the root or its subset1/)"
)
_parse = name_parser(re.compile(r"^(-?\d+)_c(\d+)(?=[_.])"), TITLE, "0001_c3_0001.jpg", range(1, 13))


def read(root: str | Path, *, domain: str = "", options: None = None) -> ReidDataset:
    return read_named_layout(
        root, domain=domain, title=TITLE, layout=LAYOUT, archives=("subset1",), splits=SPLITS, parse=_parse
    )


READER = DatasetReader(
    name="personx",
    summary="PersonX (synthetic): train 410 ids/9,840 images, query 856/5,136, gallery 856/30,816, 6 cameras",
    layout=LAYOUT,
    read=read,
)

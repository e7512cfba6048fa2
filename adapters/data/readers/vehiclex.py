"""VehicleX (Yao et al., ECCV 2020): synthetic vehicles, the AI City Challenge 2020 simulation
set. A training source only: query and gallery are empty, so nothing evaluates on it.

Official statistics: train 1,362 ids / 192,150 images; 11 cameras (numbered between c006 and
c036 in the names; camid = number - 1, the numbers kept, not compacted).

    root/                       or root/AIC20_ReID_Simulation/
      image_train/0001_c006_00000001.jpg      train, pids relabelled 0..1361

Only the file name is parsed (``<vid>_c<camera>...``, cameras read whole); pid -1 dropped.
"""

from __future__ import annotations

import re
from pathlib import Path

from reidkit.adapters.data.readers import DatasetReader
from reidkit.adapters.data.readers._common import name_parser, read_named_layout
from reidkit.domain.types import ReidDataset

TITLE = "VehicleX"
LAYOUT = "image_train/ of '<vid>_c<camera>...jpg' files (in the root or its AIC20_ReID_Simulation/); train only"
_parse = name_parser(re.compile(r"^(-?\d+)_c(\d+)(?=[_.])"), TITLE, "0001_c006_00000001.jpg")


def read(root: str | Path, *, domain: str = "", options: None = None) -> ReidDataset:
    return read_named_layout(
        root,
        domain=domain,
        title=TITLE,
        layout=LAYOUT,
        archives=("AIC20_ReID_Simulation",),
        splits=("image_train", None, None),
        parse=_parse,
    )


READER = DatasetReader(
    name="vehiclex",
    summary="VehicleX (synthetic vehicles, train only): train 1,362 ids/192,150 images, 11 cameras; no query/gallery",
    layout=LAYOUT,
    read=read,
)

"""University-1652 (Zheng et al., ACM MM 2020): buildings seen from drones, satellites and the
street; re-ID between platforms (drone-view target localisation by default).

Official statistics: train 701 buildings / 50,218 images (drone 37,854, satellite 701, street
11,663); test: query_drone 701 / 37,855, gallery_satellite 951 / 951 (drone -> satellite);
query_satellite 701 / 701, gallery_drone 951 / 51,355 (satellite -> drone).

    root/                       or root/University-Release/ (the archive)
      train/drone/0839/image-01.jpeg          train/<platform>/<building>/<image>
      train/satellite/0839/0839.jpg
      train/street/0839/...                    (train/google/, noisy web images, is not read)
      test/query_drone/0001/...  test/gallery_satellite/0001/...
      test/query_satellite/...   test/gallery_drone/...

Option ``task``: "drone->satellite" (default) or "satellite->drone". The building number is the
pid (train relabelled). camid is the platform, drone 0, satellite 1, street 2, so the Market
protocol (dropping same-identity images of the query's camera) drops nothing between platforms.
(Torchreid gives every image its own made-up camera, to the same effect.)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from attrs import field, frozen, validators

from reidkit.adapters.data.readers import DatasetReader
from reidkit.adapters.data.readers._common import as_folder, dataset, find_root, layout_error, options_of, scan_images
from reidkit.domain.errors import DatasetError, one_line
from reidkit.domain.types import ImageRecord, ReidDataset

TITLE = "University-1652"
LAYOUT = (
    "train/{drone,satellite,street}/<building>/ and test/query_<platform>/<building>/, "
    "test/gallery_<platform>/<building>/ (in the root or its University-Release/)"
)
PLATFORMS = {"drone": 0, "satellite": 1, "street": 2}
TASKS = {"drone->satellite": ("drone", "satellite"), "satellite->drone": ("satellite", "drone")}


@frozen(kw_only=True)
class University1652Options:
    task: Literal["drone->satellite", "satellite->drone"] = field(
        default="drone->satellite", validator=validators.in_(tuple(TASKS))
    )


def read(root: str | Path, *, domain: str = "", options: University1652Options | None = None) -> ReidDataset:
    options = options_of(options, University1652Options)
    query_platform, gallery_platform = TASKS[options.task]
    base = as_folder(root, TITLE, LAYOUT)
    found = find_root(
        base,
        ("University-Release",),
        lambda f: (f / "train" / "drone").is_dir() and (f / "test" / f"query_{query_platform}").is_dir(),
    )
    if found is None:
        raise layout_error(base, TITLE, LAYOUT)
    train = []
    for platform in PLATFORMS:
        if (found / "train" / platform).is_dir():
            train += _buildings(found / "train" / platform, PLATFORMS[platform], domain)
    query = _buildings(found / "test" / f"query_{query_platform}", PLATFORMS[query_platform], domain)
    gallery = _buildings(found / "test" / f"gallery_{gallery_platform}", PLATFORMS[gallery_platform], domain)
    return dataset(domain or found.name, train, query, gallery, where=one_line(str(found)))


def _buildings(folder: Path, camid: int, domain: str) -> list[ImageRecord]:
    if not folder.is_dir():
        raise DatasetError(f"{TITLE} folder {one_line(str(folder))} does not exist; expected {LAYOUT}")
    records = []
    for building in sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")):
        if not building.isdigit():
            raise DatasetError(f"{TITLE} building folder {one_line(str(folder / building))} is not named by a number")
        names, _ = scan_images(folder / building)
        prefix = os.path.join(folder, building, "")
        records += [ImageRecord(path=prefix + n, pid=int(building), camid=camid, domain=domain) for n in names]
    return records


READER = DatasetReader(
    name="university1652",
    summary="University-1652: train 701 buildings/50,218 images; drone->satellite query 701/37,855, "
    "gallery 951/951; 3 platforms as cameras",
    layout=LAYOUT,
    read=read,
    options=University1652Options,
)

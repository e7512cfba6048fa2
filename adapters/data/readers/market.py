"""Market-1501 (Zheng et al., ICCV 2015) and any Market-style folders (the synthetic presets too).

Official statistics (junk pid -1 dropped): train 751 ids / 12,936 images, query 750 ids / 3,368
images, gallery 751 ids (750 + distractor pid 0) / 15,913 images; 6 cameras (c1..c6; camid 0..5).

    root/                       or root/Market-1501-v15.09.15/ (the official archive's folder)
      bounding_box_train/0002_c1s1_000451_03.jpg   train, pids relabelled 0..750
      query/0001_c1s1_001051_00.jpg                 query, raw pids
      bounding_box_test/0000_c1s1_000151_01.jpg     gallery, raw pids (0 = distractor, kept)
      images/                                       the 500k distractors, with distractors_500k

Names are parsed by ``reidkit.adapters.data.market`` (file name only, never the folders above:
``exp_7_c2/`` is not pid 7 camera 2; cameras past 9 read whole; .jpg/.jpeg/.png in any case).
Cameras are not limited to Market's six, so Market-style folders of other data read as they are.
With ``distractors_500k`` every image under ``images/`` joins the gallery as a distractor
(pid 0, camid from a ``_c<N>`` token of its name, else 0: a distractor never matches a query,
so its camera changes no score).
"""

from __future__ import annotations

import re
from pathlib import Path

from attrs import frozen, field, validators

from reidkit.adapters.data.market import GALLERY_DIR, QUERY_DIR, TRAIN_DIR, read_market
from reidkit.adapters.data.readers import DatasetReader
from reidkit.adapters.data.readers._common import as_folder, find_root, has_dirs, layout_error, options_of, scan_images
from reidkit.domain.errors import DatasetError, one_line
from reidkit.domain.types import ImageRecord, ReidDataset

TITLE = "Market-1501"
ARCHIVE = "Market-1501-v15.09.15"
DISTRACTORS_DIR = "images"
LAYOUT = (
    f"{TRAIN_DIR}/, {QUERY_DIR}/ and {GALLERY_DIR}/ of '<pid>_c<camera>...jpg' files "
    f"(in the root or its {ARCHIVE}/), plus {DISTRACTORS_DIR}/ for the 500k distractors"
)
_CAMERA = re.compile(r"_c(\d+)")


@frozen(kw_only=True)
class MarketOptions:
    distractors_500k: bool = field(default=False, validator=validators.instance_of(bool))


def read(root: str | Path, *, domain: str = "", options: MarketOptions | None = None) -> ReidDataset:
    options = options_of(options, MarketOptions)
    base = as_folder(root, TITLE, LAYOUT)
    found = find_root(base, (ARCHIVE,), has_dirs(TRAIN_DIR, QUERY_DIR, GALLERY_DIR))
    if found is None:
        raise layout_error(base, TITLE, LAYOUT)
    data = read_market(found, domain=domain)
    if not options.distractors_500k:
        return data
    return ReidDataset(
        name=data.name, train=data.train, query=data.query, gallery=(*data.gallery, *_distractors(found, domain))
    )


def _distractors(base: Path, domain: str) -> list[ImageRecord]:
    folder = base / DISTRACTORS_DIR
    if not folder.is_dir():
        raise DatasetError(
            f"distractors_500k is on but {one_line(str(folder))} does not exist; extract the official "
            f"distractors_500k archive's images there"
        )
    names, _ = scan_images(folder)
    if not names:
        raise DatasetError(f"distractors_500k is on but {one_line(str(folder))} holds no images")
    records = []
    for name in names:
        camera = _CAMERA.search(name)
        camid = max(int(camera.group(1)) - 1, 0) if camera else 0
        records.append(ImageRecord(path=str(folder / name), pid=0, camid=camid, domain=domain))
    return records


READER = DatasetReader(
    name="market",
    summary="Market-1501 (or Market-style folders): train 751 ids/12,936 images, query 750/3,368, "
    "gallery 751 (750 + distractors)/15,913, 6 cameras",
    layout=LAYOUT,
    read=read,
    options=MarketOptions,
    junk_pids=(0,),
)

"""MSMT17 (Wei et al., CVPR 2018), V1 (full frames cropped) or V2 (faces masked).

Official statistics: train 1,041 ids / 32,621 images (list_train.txt 30,248 + list_val.txt
2,373, the same 1,041 ids), query 3,060 ids / 11,659 images, gallery 3,060 ids / 82,161 images;
15 cameras (camid 0..14). By default train is list_train.txt alone (30,248 images), as in the
papers and Torchreid; ``combineall`` adds list_val.txt (32,621).

    root/                       or root/MSMT17_V1/ or root/MSMT17_V2/ (first found wins)
      list_train.txt  list_val.txt  list_query.txt  list_gallery.txt
                                    lines '<relative path> <pid>', e.g. '0000/0000_000_01_0303morning_0015_0.jpg 0'
      train/0000/0000_000_01_0303morning_0015_0.jpg     V1; V2: mask_train_v2/...
      test/0000/0000_000_01_0303morning_0008_0.jpg      V1; V2: mask_test_v2/...

The pid is the list's (train already 0..1040: relabelling keeps it); the camera is the third
'_' field of the file name (01..15), camid = that - 1. Train/val paths are under the train folder,
query/gallery under the test folder; a line naming a missing file ends the reading with that file.
"""

from __future__ import annotations

import os
from pathlib import Path

from attrs import field, frozen, validators

from reidkit.adapters.data.readers import DatasetReader
from reidkit.adapters.data.readers._common import (
    as_folder,
    dataset,
    files_under,
    find_root,
    is_image_name,
    layout_error,
    options_of,
)
from reidkit.domain.errors import DatasetError, one_line
from reidkit.domain.types import ImageRecord, ReidDataset

TITLE = "MSMT17"
LISTS = ("list_train.txt", "list_val.txt", "list_query.txt", "list_gallery.txt")
FOLDERS = {"V1": ("train", "test"), "V2": ("mask_train_v2", "mask_test_v2")}
LAYOUT = (
    "list_train.txt, list_val.txt, list_query.txt, list_gallery.txt with train/ and test/ (V1) or "
    "mask_train_v2/ and mask_test_v2/ (V2), in the root or its MSMT17_V1/ or MSMT17_V2/"
)
CAMERAS = range(1, 16)


@frozen(kw_only=True)
class Msmt17Options:
    combineall: bool = field(default=False, validator=validators.instance_of(bool))


def _version(folder: Path) -> str | None:
    if not all((folder / name).is_file() for name in LISTS):
        return None
    for version, (train, test) in FOLDERS.items():
        if (folder / train).is_dir() and (folder / test).is_dir():
            return version
    return None


def read(root: str | Path, *, domain: str = "", options: Msmt17Options | None = None) -> ReidDataset:
    options = options_of(options, Msmt17Options)
    base = as_folder(root, TITLE, LAYOUT)
    found = find_root(base, ("MSMT17_V1", "MSMT17_V2"), lambda f: _version(f) is not None)
    if found is None:
        raise layout_error(base, TITLE, LAYOUT)
    train_dir, test_dir = (found / name for name in FOLDERS[_version(found)])  # type: ignore[index]
    train_files, test_files = files_under(train_dir), files_under(test_dir)
    train = read_list(found / "list_train.txt", train_dir, train_files, domain)
    if options.combineall:
        train += read_list(found / "list_val.txt", train_dir, train_files, domain)
    query = read_list(found / "list_query.txt", test_dir, test_files, domain)
    gallery = read_list(found / "list_gallery.txt", test_dir, test_files, domain)
    return dataset(domain or found.name, train, query, gallery, where=one_line(str(found)))


def read_list(path: Path, folder: Path, present: set[str], domain: str) -> list[ImageRecord]:
    """The records of one list file; each problem is one line naming the file and line."""
    records = []
    where = one_line(str(path))
    prefix = os.path.join(folder, "")
    with path.open(encoding="utf-8", errors="surrogateescape") as lines:
        for number, line in enumerate(lines, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2:
                raise DatasetError(f"{where} line {number}: expected '<relative path> <pid>', got {one_line(line.strip())!r}")
            relative, pid_text = fields
            try:
                pid = int(pid_text)
            except ValueError:
                raise DatasetError(f"{where} line {number}: pid {one_line(pid_text)!r} is not an integer") from None
            if relative not in present:
                raise DatasetError(f"{where} line {number}: {one_line(str(folder / relative))} does not exist")
            if not is_image_name(relative):
                raise DatasetError(f"{where} line {number}: {one_line(relative)!r} is not an image file name")
            parts = relative.rsplit("/", 1)[-1].split("_")
            camera = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 0
            if camera not in CAMERAS:
                raise DatasetError(
                    f"{where} line {number}: {one_line(relative)!r} has no camera 01..15 as its third '_' field "
                    "(like 0000_000_01_0303morning_0015_0.jpg)"
                )
            if pid < 0:
                continue  # none in the release; a negative pid is junk as in Market
            records.append(ImageRecord(path=prefix + relative, pid=pid, camid=camera - 1, domain=domain))
    return records


READER = DatasetReader(
    name="msmt17",
    summary="MSMT17 (V1/V2): train 1,041 ids/30,248 images (32,621 with combineall), query 3,060/11,659, "
    "gallery 3,060/82,161, 15 cameras",
    layout=LAYOUT,
    read=read,
    options=Msmt17Options,
)

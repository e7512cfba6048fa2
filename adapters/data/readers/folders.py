"""A generic layout: a folder per identity, in train/ (and query/ + gallery/ to evaluate).

    root/
      train/<identity>/<image>                 e.g. train/alice/img_c1_0001.jpg
      train/<identity>/c<N>/<image>            or the camera as a sub-folder: train/alice/c2/0001.png
      query/<identity>/...                     optional; with gallery/, both or neither
      gallery/<identity>/...

Identity: the identity folder's name. When every identity folder of query and gallery is named
by an integer (``0042``), that integer is the pid (so 0 is a distractor, -1 junk is dropped, as
in Market); otherwise query and gallery pids number their folder names 1.. in sorted order of
the names of both splits together (the same name is the same identity in both). Train is
relabelled 0..N-1 in sorted order of its folder names (or of their integers).

Camera: a ``c<N>`` sub-folder of the identity folder, else a ``c<N>`` token of the file name
(delimited by '_', '-', '.' or the name's ends: ``cam_c3_01.jpg``, ``c12-x.png``), N from 1;
camid = N - 1. Query and gallery images must have one (the Market protocol drops same-camera
matches; one made-up camera for all would leave no match). Train images without one get camid 0.
Only those names are read: the folders above the identity folder are never parsed. Other files
(non-images, hidden ones) and deeper folders are left out and counted in the log.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import structlog

from reidkit.adapters.data.readers import DatasetReader
from reidkit.adapters.data.readers._common import as_folder, dataset, layout_error, scan_images
from reidkit.domain.errors import DatasetError, one_line
from reidkit.domain.types import ImageRecord, ReidDataset

TITLE = "folders"
LAYOUT = (
    "train/<identity>/<image> (camera as a c<N> sub-folder or a c<N> token of the name), "
    "optionally query/<identity>/ and gallery/<identity>/ likewise"
)
CAMERA = re.compile(r"(?:^|[_\-.])c(\d+)(?=[_\-.]|$)", re.IGNORECASE)
_SUBFOLDER = re.compile(r"^c(\d+)$", re.IGNORECASE)
_INTEGER = re.compile(r"^-?\d+$")

log = structlog.get_logger(__name__)


def camera_of(stem: str) -> int | None:
    """The camera number of a ``c<N>`` token in ``stem`` (the name without its extension)."""
    match = CAMERA.search(stem)
    return int(match.group(1)) if match else None


def read(root: str | Path, *, domain: str = "", options: None = None) -> ReidDataset:
    base = as_folder(root, TITLE, LAYOUT)
    if not (base / "train").is_dir():
        raise layout_error(base, TITLE, LAYOUT)
    has_query, has_gallery = (base / "query").is_dir(), (base / "gallery").is_dir()
    if has_query != has_gallery:
        raise DatasetError(
            f"{one_line(str(base))} has {'query/' if has_query else 'gallery/'} without "
            f"{'gallery/' if has_query else 'query/'}; a folders dataset has both or neither"
        )
    train_ids = _identities(base / "train")
    train_pids = _pids(train_ids, train_ids)
    train = _records(base / "train", train_ids, train_pids, domain, need_camera=False)
    if not has_query:
        return dataset(domain or base.name, train, where=one_line(str(base)), evaluated=False)
    query_ids, gallery_ids = _identities(base / "query"), _identities(base / "gallery")
    both = query_ids + gallery_ids
    query = _records(base / "query", query_ids, _pids(query_ids, both), domain, need_camera=True)
    gallery = _records(base / "gallery", gallery_ids, _pids(gallery_ids, both), domain, need_camera=True)
    return dataset(domain or base.name, train, query, gallery, where=one_line(str(base)))


def _identities(split: Path) -> list[str]:
    names = sorted(e.name for e in os.scandir(split) if e.is_dir() and not e.name.startswith("."))
    if not names:
        raise DatasetError(f"{one_line(str(split))} holds no identity folders; expected {LAYOUT}")
    return names


def _pids(names: list[str], space: list[str]) -> dict[str, int]:
    if all(_INTEGER.match(n) for n in space):
        return {n: int(n) for n in names}
    numbered = {n: i + 1 for i, n in enumerate(sorted(set(space)))}
    return {n: numbered[n] for n in names}


def _records(
    split: Path, identities: list[str], pids: dict[str, int], domain: str, *, need_camera: bool
) -> list[ImageRecord]:
    records: list[ImageRecord] = []
    skipped: Counter[str] = Counter()
    for identity in identities:
        pid = pids[identity]
        if pid < -1:
            raise DatasetError(f"identity folder {one_line(str(split / identity))} has pid {pid}; only -1 (junk) may be negative")
        folder = split / identity
        names, left = scan_images(folder)
        skipped.update({k: v for k, v in left.items() if k != "folders"})
        found = [(folder / name, camera_of(Path(name).stem)) for name in names]
        for sub in sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")):
            camera = _SUBFOLDER.match(sub)
            if camera is None:
                skipped["folders"] += 1
                continue
            sub_names, sub_left = scan_images(folder / sub)
            skipped.update(sub_left)
            found += [(folder / sub / name, int(camera.group(1))) for name in sub_names]
        for path, camera in found:
            if camera is None and need_camera:
                raise DatasetError(
                    f"{one_line(str(path))} has no camera: name it with a c<N> token (img_c2_01.jpg) or put it in a "
                    "c<N>/ sub-folder; query and gallery images need one"
                )
            if camera is not None and camera < 1:
                raise DatasetError(f"{one_line(str(path))} has camera c{camera}; cameras count from c1")
            if pid == -1:
                skipped["junk"] += 1
                continue
            records.append(ImageRecord(path=str(path), pid=pid, camid=(camera or 1) - 1, domain=domain))
    if skipped:
        log.info("files left out of a split", split=str(split), images=len(records), **dict(sorted(skipped.items())))
    return records


READER = DatasetReader(
    name="folders",
    summary="your own images, a folder per identity in train/ (query/ and gallery/ to evaluate); no official statistics",
    layout=LAYOUT,
    read=read,
)

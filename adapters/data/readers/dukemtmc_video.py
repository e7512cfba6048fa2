"""DukeMTMC-VideoReID (Wu et al., CVPR 2018; from DukeMTMC, Ristani et al. 2016): video re-ID.

Official statistics: train 702 ids / 2,196 tracklets, query 702 ids / 702 tracklets, gallery
1,110 ids (702 + 408 distractor ids) / 2,636 tracklets; 8 cameras (C1..C8; camid 0..7).

    root/                       or root/DukeMTMC-VideoReID/ (the official archive's folder)
      train/0001/0001/0001_C6_F0099_X30823.jpg     <split>/<pid>/<tracklet>/<pid>_C<cam>_F<frame>_X<..>.jpg
      query/0005/0012/...   gallery/0005/0013/...    (the old names 0001C6F0099X30823.jpg also read)

A tracklet is one ``<pid>/<tracklet>/`` folder; its frames are ordered by their ``F####`` number
(Torchreid globs F0001..F<count> instead, so a tracklet that starts at F0002 loses its last frame
and one with a gap loses the frames past it); every frame must carry the folder's pid and one
camera. A pid folder ``-1`` (junk) is skipped; pid 0 is kept. ``min_seq_len`` drops shorter
tracklets (Torchreid's default 0 keeps all).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from attrs import field, frozen, validators

from reidkit.adapters.data.readers import DatasetReader
from reidkit.adapters.data.readers._common import as_folder, find_root, has_dirs, layout_error, options_of
from reidkit.adapters.data.readers._video import image_names, keep_long_enough, subfolders, tracklet_dataset
from reidkit.domain.errors import DatasetError, one_line
from reidkit.domain.types import ReidDataset, Tracklet

TITLE = "DukeMTMC-VideoReID"
SPLITS = ("train", "query", "gallery")
LAYOUT = (
    "train/, query/ and gallery/ of '<pid>/<tracklet>/<pid>_C<1..8>_F<frame>_X<n>.jpg' frames "
    "(in the root or its DukeMTMC-VideoReID/)"
)
CAMERAS = range(1, 9)
_NAME = re.compile(r"^(-?\d+)_?C(\d+)_?F(\d+)", re.IGNORECASE)
_PID = re.compile(r"^-?\d+$")


@frozen(kw_only=True)
class DukeVideoOptions:
    min_seq_len: int = field(default=0, validator=[validators.instance_of(int), validators.ge(0)])


def read(root: str | Path, *, domain: str = "", options: DukeVideoOptions | None = None) -> ReidDataset:
    options = options_of(options, DukeVideoOptions)
    base = as_folder(root, TITLE, LAYOUT)
    found = find_root(base, ("DukeMTMC-VideoReID",), has_dirs(*SPLITS))
    if found is None:
        raise layout_error(base, TITLE, LAYOUT)
    train, query, gallery = (
        keep_long_enough(read_split(found / split, domain), options.min_seq_len, split) for split in SPLITS
    )
    return tracklet_dataset(domain or found.name, train, query, gallery, where=one_line(str(found)))


def read_split(folder: Path, domain: str, title: str = TITLE) -> list[Tracklet]:
    """The tracklets of one split folder of ``<pid>/<tracklet>/`` frame folders, pid -1 skipped."""
    tracklets = []
    for pid_name in subfolders(folder):
        if not _PID.match(pid_name):
            raise DatasetError(f"{title} folder {one_line(str(folder / pid_name))} is not a pid folder (like 0001)")
        pid = int(pid_name)
        if pid == -1:
            continue  # junk
        if pid < -1:
            raise DatasetError(f"{title} folder {one_line(str(folder / pid_name))} has pid {pid}; only -1 (junk) may be negative")
        for track in subfolders(folder / pid_name):
            tracklet = _tracklet(folder / pid_name / track, pid, domain, title)
            if tracklet is not None:
                tracklets.append(tracklet)
    return tracklets


def _tracklet(folder: Path, pid: int, domain: str, title: str) -> Tracklet | None:
    frames: dict[int, str] = {}
    cameras: set[int] = set()
    for name in image_names(folder):
        match = _NAME.match(name)
        if match is None:
            raise DatasetError(
                f"frame {one_line(name)!r} in {one_line(str(folder))} is not a {title} name (like 0001_C6_F0099_X30823.jpg)"
            )
        if int(match.group(1)) != pid:
            raise DatasetError(f"frame {one_line(name)!r} in {one_line(str(folder))} is not of the folder's pid {pid}")
        camera, number = int(match.group(2)), int(match.group(3))
        if camera not in CAMERAS:
            raise DatasetError(f"frame {one_line(name)!r} in {one_line(str(folder))} has camera {camera}, not one of {title}'s 1..8")
        if number in frames:
            raise DatasetError(
                f"tracklet {one_line(str(folder))} has two frames F{number:04d}: {one_line(frames[number])} and {one_line(name)}"
            )
        frames[number] = name
        cameras.add(camera)
    if not frames:
        return None  # an empty tracklet folder holds nothing to train or test on
    if len(cameras) > 1:
        raise DatasetError(f"tracklet {one_line(str(folder))} mixes cameras {sorted(cameras)}")
    prefix = os.path.join(folder, "")
    ordered = [prefix + frames[n] for n in sorted(frames)]
    return Tracklet(frames=ordered, pid=pid, camid=cameras.pop() - 1, domain=domain)


READER = DatasetReader(
    name="dukemtmc_video",
    summary="DukeMTMC-VideoReID: train 702 ids/2,196 tracklets, query 702/702, gallery 1,110 (408 distractor ids)"
    "/2,636, 8 cameras",
    layout=LAYOUT,
    read=read,
    video=True,
    options=DukeVideoOptions,
)

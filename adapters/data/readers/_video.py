"""What the video readers share: frames of a tracklet folder in temporal order, .mat files, the
length filter, and the ``ReidDataset`` of tracklets.

Private (the leading underscore keeps it out of ``reader_names()``). Torch- and PIL-free; the
``.mat`` files of MARS and iLIDS-VID are read with ``scipy.io.loadmat``, imported when read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import structlog

from reidkit.adapters.data.readers._common import dataset, is_image_name
from reidkit.domain.errors import DatasetError, one_line
from reidkit.domain.types import ReidDataset, Tracklet

log = structlog.get_logger(__name__)

_DIGITS = re.compile(r"(\d+)")


def image_names(folder: Path) -> list[str]:
    """Names of the image files directly in ``folder`` (not decoded), unsorted."""
    with os.scandir(folder) as entries:
        return [e.name for e in entries if is_image_name(e.name) and e.is_file()]


def numbered_frames(folder: Path, title: str) -> list[str]:
    """The image files of one sequence folder in temporal order: by the last number in each name
    (``cam1_person001_00317.png`` -> 317; ``0001.png`` -> 1), never the file system's order;
    two frames with one number, or a name without a number, are named in one line."""
    names = image_names(folder)
    numbered: dict[int, str] = {}
    for name in names:
        digits = _DIGITS.findall(os.path.splitext(name)[0])
        if not digits:
            raise DatasetError(f"{title} frame {one_line(name)!r} in {one_line(str(folder))} has no frame number")
        number = int(digits[-1])
        if number in numbered:
            raise DatasetError(
                f"{title} sequence {one_line(str(folder))} has two frames numbered {number}: "
                f"{one_line(numbered[number])} and {one_line(name)}"
            )
        numbered[number] = name
    prefix = os.path.join(folder, "")
    return [prefix + numbered[n] for n in sorted(numbered)]


def subfolders(folder: Path) -> list[str]:
    """Names of the visible sub-folders of ``folder``, sorted."""
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))


def keep_long_enough(tracklets: Iterable[Tracklet], min_seq_len: int, where: str) -> list[Tracklet]:
    """The tracklets of at least ``min_seq_len`` frames; how many went is logged."""
    kept = [t for t in tracklets if len(t.frames) >= min_seq_len]
    tracklets = list(tracklets) if not isinstance(tracklets, list) else tracklets
    if len(kept) < len(tracklets):
        log.info("tracklets shorter than min_seq_len left out", split=where, min_seq_len=min_seq_len,
                 left_out=len(tracklets) - len(kept), kept=len(kept))  # fmt: skip
    return kept


def load_mat(path: Path, key: str, title: str) -> Any:
    """The array ``key`` of the MATLAB file ``path``; a missing file, an unreadable one or a
    missing key is one line."""
    if not path.is_file():
        raise DatasetError(f"{title} needs {one_line(str(path))}, which does not exist")
    from scipy.io import loadmat

    try:
        contents = loadmat(str(path))
    except Exception as error:  # scipy raises ValueError, MatReadError, OSError, ...
        raise DatasetError(f"{title}: {one_line(str(path))} is not a readable .mat file ({one_line(str(error))})") from None
    if key not in contents:
        found = sorted(k for k in contents if not k.startswith("__"))
        raise DatasetError(f"{title}: {one_line(str(path))} has no '{key}' array (it holds {found})")
    return contents[key]


def tracklet_dataset(
    name: str, train: Sequence[Tracklet], query: Sequence[Tracklet], gallery: Sequence[Tracklet], *, where: str
) -> ReidDataset:
    """The ``ReidDataset`` of tracklets: train relabelled 0..N-1 in sorted pid order, query and
    gallery with their raw pids, the same checks as every reader's (``_common.dataset``)."""
    if not train:
        raise DatasetError(f"{where} has no training tracklets")
    return dataset(name, train, query, gallery, where=where)

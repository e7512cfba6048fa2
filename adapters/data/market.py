"""Reads a Market-1501 folder layout into a ``ReidDataset``.

    root/bounding_box_train/0002_c1s1_000451_03.jpg   train (pids relabelled 0..n-1)
    root/query/...                                    query (raw pids)
    root/bounding_box_test/...                        gallery (raw pids, pid 0 = distractor)

Only the file name is parsed, never the folders above it: a checkout under ``exp_7_c2/`` must not
be read as pid 7, camera 2. What a split leaves out (other extensions, hidden files, sub-folders,
broken or looping symbolic links, other non-files, junk with pid -1) is counted and logged once per
split, so a split smaller than expected says why. A custom dataset plugged in as Market-style folders must name each
image's camera too: there is no default camera, because the evaluation only counts a gallery
image of another camera as a match, and one made-up camera for all would leave no match at all.
"""

from __future__ import annotations

import errno
import re
import stat
from collections import Counter
from pathlib import Path

import attrs
import structlog

from reidkit.domain.errors import DatasetError
from reidkit.domain.types import ImageRecord, Record, ReidDataset

TRAIN_DIR = "bounding_box_train"
QUERY_DIR = "query"
GALLERY_DIR = "bounding_box_test"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

# \d+ after "_c" so cameras past 9 (other Market-style datasets have them) are read whole.
_NAME = re.compile(r"^(-?\d+)_c(\d+)")
_PID_ONLY = re.compile(r"^-?\d+(?=[_.]|$)")
_SHOWN = 5

log = structlog.get_logger(__name__)


def read_market(root: str | Path, domain: str = "") -> ReidDataset:
    """The three splits of the Market-style dataset at ``root``; records carry ``domain``."""
    # Absolute paths so records stay valid in workers or after a chdir.
    base = Path(root).expanduser().absolute()
    if not base.is_dir():
        raise DatasetError(f"dataset root {base} does not exist or is not a folder")
    train = _read_split(base / TRAIN_DIR, domain)
    if all(r.pid == 0 for r in train):
        raise DatasetError(
            f"the training split {base / TRAIN_DIR} holds only distractor images (pid 0: no identity, kept "
            "for the gallery); training needs images named by identity ('0001_c1...', '0002_c1...')"
        )
    query = _read_split(base / QUERY_DIR, domain)
    gallery = _read_split(base / GALLERY_DIR, domain)
    if not {r.pid for r in query} & {r.pid for r in gallery}:
        raise DatasetError(f"no query identity of {base / QUERY_DIR} appears in {base / GALLERY_DIR}")
    if not set(query) - set(queries_without_a_match(query, gallery)):
        raise DatasetError(
            f"no query of {base / QUERY_DIR} has a gallery image of its identity under another camera in "
            f"{base / GALLERY_DIR} (same-camera matches are not counted), so no query could be scored"
        )
    _warn_about_unmatched_queries(query, gallery, base)
    return ReidDataset(name=domain or base.name, train=relabel_train(train), query=query, gallery=gallery)


def parse_name(name: str) -> tuple[int, int]:
    """(pid, camid) of a Market file name; camid is 0-based. Raises ValueError on a mismatch."""
    match = _NAME.match(name)
    if match is None and _PID_ONLY.match(name):
        raise ValueError(
            f"file name {name!r} has no camera id after its pid; name it '<pid>_c<camera>...' "
            "(e.g. 0002_c1s1_000451_03.jpg): evaluation needs each image's camera"
        )
    if match is None:
        raise ValueError(f"file name {name!r} does not start with '<pid>_c<camera>'")
    pid, cam = int(match.group(1)), int(match.group(2))
    if cam < 1:
        raise ValueError(f"file name {name!r} has camera {cam}; Market cameras count from 1")
    if pid < -1:
        raise ValueError(f"file name {name!r} has pid {pid}; only -1 (junk) may be negative")
    return pid, cam - 1


def _read_split(folder: Path, domain: str) -> tuple[ImageRecord, ...]:
    if not folder.is_dir():
        raise DatasetError(f"split folder {folder} does not exist")
    records = []
    images, skipped = _image_files(folder)
    # Sorted by name so the record order (and so every downstream index) is reproducible.
    for path in sorted(images, key=lambda p: p.name):
        try:
            pid, camid = parse_name(path.name)
        except ValueError as error:
            raise DatasetError(f"{error} in {folder}") from None
        if pid == -1:  # junk detections: not a person, scored as neither match nor non-match
            skipped["junk"] += 1
            continue
        records.append(ImageRecord(path=str(path), pid=pid, camid=camid, domain=domain))
    if skipped:
        log.info("files left out of a split", split=str(folder), images=len(records), **dict(sorted(skipped.items())))
    if not records:
        raise DatasetError(f"split folder {folder} holds no usable images (*.jpg, *.png)")
    return tuple(records)


def queries_without_a_match(query: tuple[ImageRecord, ...], gallery: tuple[ImageRecord, ...]) -> list[ImageRecord]:
    """Queries whose identity has no gallery image under another camera: the evaluation counts
    them (``num_queries`` minus ``num_valid_queries``) but cannot score them."""
    cameras_of: dict[int, set[int]] = {}
    for record in gallery:
        cameras_of.setdefault(record.pid, set()).add(record.camid)
    return [q for q in query if not cameras_of.get(q.pid, set()) - {q.camid}]


def _warn_about_unmatched_queries(query: tuple[ImageRecord, ...], gallery: tuple[ImageRecord, ...], base: Path) -> None:
    unmatched = queries_without_a_match(query, gallery)
    if unmatched:
        names = [Path(q.path).name for q in unmatched]
        log.warning(
            "queries without a gallery match under another camera; evaluation counts them apart",
            dataset=str(base),
            queries=len(unmatched),
            of=len(query),
            first=", ".join(names[:_SHOWN]) + (f" (+{len(names) - _SHOWN} more)" if len(names) > _SHOWN else ""),
        )


def _image_files(folder: Path) -> tuple[list[Path], Counter[str]]:
    """The split's image files, and how many entries of each kind it left out."""
    images: list[Path] = []
    skipped: Counter[str] = Counter()
    for path in folder.iterdir():
        kind = _left_out(path)
        if kind is None:
            images.append(path)
        else:
            skipped[kind] += 1
    return images, skipped


def _left_out(path: Path) -> str | None:
    """Why ``path`` is not one of the split's images, or None when it is."""
    if path.name.startswith("."):
        return "hidden"
    try:
        mode = path.stat().st_mode  # follows symbolic links
    except FileNotFoundError:
        return "broken_links" if path.is_symlink() else "vanished"
    except OSError as error:
        return "link_loops" if error.errno == errno.ELOOP else "unreadable_entries"
    if stat.S_ISDIR(mode):
        return "folders"
    if not stat.S_ISREG(mode):
        return "not_files"
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return "other_extensions"
    return None


def relabel_train(records: tuple[Record, ...]) -> tuple[Record, ...]:
    """The records with pids relabelled 0..n-1 in sorted order of the pids they carry."""
    # Classifier heads need contiguous labels; sorted original order keeps the mapping stable.
    mapping = {pid: label for label, pid in enumerate(sorted({r.pid for r in records}))}
    return tuple(
        ImageRecord(path=r.path, pid=mapping[r.pid], camid=r.camid, domain=r.domain, attributes=r.attributes)
        if isinstance(r, ImageRecord)
        else attrs.evolve(r, pid=mapping[r.pid])  # a Tracklet keeps its frames
        for r in records
    )

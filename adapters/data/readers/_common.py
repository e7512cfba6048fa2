"""What the readers share: finding a root, listing images without decoding them, one-line layout
errors, reading a split of ``<pid>_c<camera>...`` names, and assembling the ``ReidDataset``.

Private (the leading underscore keeps it out of ``reader_names()``). Torch- and PIL-free.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import structlog

from reidkit.adapters.data.market import queries_without_a_match, relabel_train
from reidkit.domain.errors import DatasetError, one_line
from reidkit.domain.types import ImageRecord, ReidDataset

T = TypeVar("T")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_SHOWN = 6

log = structlog.get_logger(__name__)


def options_of(options: object, kind: type[T]) -> T:
    """``options``, or the defaults of ``kind`` when None; anything else is a TypeError naming it."""
    if options is None:
        return kind()
    if not isinstance(options, kind):
        raise TypeError(f"options must be a {kind.__name__} (or None for its defaults), got {type(options).__name__}")
    return options


def as_folder(root: str | Path, title: str, layout: str) -> Path:
    """``root`` as an absolute folder, or a one-line error naming the layout expected there."""
    base = Path(root).expanduser().absolute()
    if not base.is_dir():
        raise DatasetError(f"{title} root {one_line(str(base))} does not exist or is not a folder; expected {layout}")
    return base


def find_root(base: Path, inner: Sequence[str], fits: Callable[[Path], bool]) -> Path | None:
    """``base`` or the first of its ``inner`` archive folders (e.g. ``Market-1501-v15.09.15``)
    whose contents ``fits``; None when none does."""
    for candidate in (base, *(base / name for name in inner)):
        if candidate.is_dir() and fits(candidate):
            return candidate
    return None


def has_dirs(*names: str) -> Callable[[Path], bool]:
    return lambda folder: all((folder / name).is_dir() for name in names)


def layout_error(base: Path, title: str, layout: str) -> DatasetError:
    """The error for a root whose tree is not ``title``'s: what was expected and what is there."""
    return DatasetError(
        f"{one_line(str(base))} does not have the {title} layout (it holds {listing(base)}); expected {layout}"
    )


def listing(folder: Path) -> str:
    """A few of the folder's entries, folders marked with '/', for an error message."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return "nothing readable"
    names = [one_line(e.name) + ("/" if e.is_dir() else "") for e in entries if not e.name.startswith(".")]
    if not names:
        return "nothing"
    more = f" (+{len(names) - _SHOWN} more)" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


def is_image_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def scan_images(folder: Path) -> tuple[list[str], Counter[str]]:
    """Names of the image files directly in ``folder`` (extensions compared case-blind), and how
    many entries of each other kind it left out. ``os.scandir`` avoids a stat per regular file."""
    images: list[str] = []
    skipped: Counter[str] = Counter()
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                skipped["hidden"] += 1
            elif entry.is_dir():
                skipped["folders"] += 1
            elif not entry.is_file():
                skipped["broken_links" if entry.is_symlink() else "not_files"] += 1
            elif os.path.splitext(entry.name)[1].lower() not in IMAGE_SUFFIXES:
                skipped["other_extensions"] += 1
            else:
                images.append(entry.name)
    images.sort()
    return images, skipped


def files_under(folder: Path) -> set[str]:
    """Relative POSIX paths of every file below ``folder`` (one walk; for checking list files)."""
    found: set[str] = set()
    for top, _dirs, files in os.walk(folder, followlinks=True):
        rel = os.path.relpath(top, folder)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        found.update(prefix + name for name in files)
    return found


def read_named_split(
    folder: Path, parse: Callable[[str], tuple[int, int]], domain: str, title: str
) -> tuple[ImageRecord, ...]:
    """Records of the images directly in ``folder``, (pid, camid) from each file NAME only (never
    the folders above it); pid -1 (junk) dropped and counted; a name ``parse`` refuses is named."""
    if not folder.is_dir():
        raise DatasetError(f"{title} split folder {one_line(str(folder))} does not exist")
    names, skipped = scan_images(folder)
    records = []
    prefix = os.path.join(folder, "")  # string joins: a Path per file costs seconds on 100k files
    for name in names:
        try:
            pid, camid = parse(name)
        except ValueError as error:
            raise DatasetError(f"{error} in {one_line(str(folder))}") from None
        if pid == -1:
            skipped["junk"] += 1
            continue
        records.append(ImageRecord(path=prefix + name, pid=pid, camid=camid, domain=domain))
    if skipped:
        log.info("files left out of a split", split=str(folder), images=len(records), **dict(sorted(skipped.items())))
    return tuple(records)


def name_parser(
    pattern: re.Pattern[str], title: str, example: str, cameras: range | None = None
) -> Callable[[str], tuple[int, int]]:
    """A parser of names whose ``pattern`` captures (pid, camera); camid = camera - 1. A camera
    outside ``cameras`` (the dataset's own numbers) is refused: the tree is not ``title``'s."""

    def parse(name: str) -> tuple[int, int]:
        match = pattern.match(name)
        if match is None:
            raise ValueError(f"file name {one_line(name)!r} is not a {title} name (like {example})")
        pid, cam = int(match.group(1)), int(match.group(2))
        if pid < -1:
            raise ValueError(f"file name {one_line(name)!r} has pid {pid}; only -1 (junk) may be negative")
        if cameras is not None and cam not in cameras:
            raise ValueError(
                f"file name {one_line(name)!r} has camera {cam}, not one of {title}'s "
                f"{cameras.start}..{cameras.stop - 1}"
            )
        if cam < 1:
            raise ValueError(f"file name {one_line(name)!r} has camera {cam}; cameras count from 1")
        return pid, cam - 1

    return parse


def dataset(
    name: str,
    train: Iterable[ImageRecord],
    query: Iterable[ImageRecord] = (),
    gallery: Iterable[ImageRecord] = (),
    *,
    where: str,
    evaluated: bool = True,
    trained: bool = True,
    identities_known: bool = True,
) -> ReidDataset:
    """The ``ReidDataset``: train relabelled 0..N-1 in sorted pid order, query/gallery as given.
    ``evaluated``: query and gallery must then be non-empty and share an identity scorable under
    the Market protocol (a gallery image of the query's identity under another camera).
    ``trained``: train must be non-empty (False only for a test-only dataset). ``identities_known``
    False: the train pids stand for no identity (unlabelled images)."""
    train, query, gallery = tuple(train), tuple(query), tuple(gallery)
    if trained and not train:
        raise DatasetError(f"{where} has no training images")
    if evaluated:
        if not query or not gallery:
            raise DatasetError(f"{where} has no {'query' if not query else 'gallery'} images")
        if not {r.pid for r in query} & {r.pid for r in gallery}:
            raise DatasetError(f"no query identity of {where} appears in its gallery")
        unmatched = queries_without_a_match(query, gallery)
        if len(unmatched) == len(query):
            raise DatasetError(
                f"no query of {where} has a gallery image of its identity under another camera "
                "(same-camera matches are not counted), so no query could be scored"
            )
        if unmatched:
            log.warning(
                "queries without a gallery match under another camera; evaluation counts them apart",
                dataset=where,
                queries=len(unmatched),
                of=len(query),
            )
    return ReidDataset(
        name=name, train=relabel_train(train), query=query, gallery=gallery, identities_known=identities_known
    )


def read_named_layout(
    root: str | Path,
    *,
    domain: str,
    title: str,
    layout: str,
    archives: Sequence[str],
    splits: tuple[str, str | None, str | None],
    parse: Callable[[str], tuple[int, int]],
) -> ReidDataset:
    """A dataset of (train, query, gallery) split folders of ``<pid>_c<camera>...`` names, in
    ``root`` or one of its ``archives`` folders; query/gallery None for a train-only dataset."""
    base = as_folder(root, title, layout)
    found = find_root(base, archives, has_dirs(*(s for s in splits if s)))
    if found is None:
        raise layout_error(base, title, layout)
    train_dir, query_dir, gallery_dir = splits
    train = read_named_split(found / train_dir, parse, domain, title)
    if not train:
        raise DatasetError(f"{title} split folder {one_line(str(found / train_dir))} holds no usable images")
    if all(r.pid == 0 for r in train):
        raise DatasetError(f"{title} training split {one_line(str(found / train_dir))} holds only distractors (pid 0)")
    query = read_named_split(found / query_dir, parse, domain, title) if query_dir else ()
    gallery = read_named_split(found / gallery_dir, parse, domain, title) if gallery_dir else ()
    return dataset(
        domain or found.name, train, query, gallery, where=one_line(str(found)), evaluated=query_dir is not None
    )


def split_draw(dataset_name: str, ids: Sequence[int], count: int, draw: int) -> list[int]:
    """``count`` of ``ids`` chosen by random draw number ``draw`` of ``dataset_name``: the same on
    every machine and run (a string seed), and nothing written next to the data."""
    import random

    return sorted(random.Random(f"{dataset_name}-split-{draw}").sample(sorted(ids), count))


def paired_cameras(
    base: Path, folders: Sequence[str], person: Callable[[str], int], title: str
) -> list[dict[int, str]]:
    """Per camera folder, person number -> image path, for single-shot datasets with one image
    per person and camera; a second image of a person, or a person missing in the first
    camera's partner, is named in one line."""
    cameras: list[dict[int, str]] = []
    for folder in folders:
        names, _ = scan_images(base / folder)
        images: dict[int, str] = {}
        for name in names:
            try:
                number = person(name)
            except ValueError as error:
                raise DatasetError(f"{error} in {one_line(str(base / folder))}") from None
            if number in images:
                raise DatasetError(
                    f"{title} has one image per person and camera, but {one_line(str(base / folder))} holds "
                    f"{one_line(os.path.basename(images[number]))} and {one_line(name)} of person {number}"
                )
            images[number] = os.path.join(base, folder, name)
        cameras.append(images)
    return cameras

"""Checks a training split's images before training, under the profile's ``data.unreadable`` policy.

A bad image found at step 5,000 would stop a run hours in; the scan decodes every training image
once, up front (the same ``load_image`` training uses, so what passes here loads there), and:

- ``fail`` (the default) stops with one line naming the first few bad files and their count, the
  full list written to ``unreadable_images_<domain>.tsv`` in the run folder;
- ``skip`` trains without them, logging the count and writing the same list.

The list is UTF-8 TSV with a ``path`` and a ``reason`` column, one line per file: tabs, newlines
and other control characters in a file name are written as backslash escapes (``\t``, ``\n``,
``\x1b``), and so is each byte of a name that is not UTF-8 (``\xff``), as in the one-line error.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import attrs
import structlog
from attrs import frozen

from reidkit.adapters.data.images import load_image
from reidkit.adapters.data.market import relabel_train
from reidkit.domain.errors import DatasetError, ImageLoadError, one_line
from reidkit.domain.types import ReidDataset, Record, Tracklet

log = structlog.get_logger(__name__)

Policy = Literal["fail", "skip"]
POLICIES: tuple[Policy, ...] = ("fail", "skip")
_SHOWN = 3  # bad files named in the one-line error; the report file holds them all
_PROGRESS_EVERY = 64


@frozen
class UnreadableImage:
    path: str
    reason: str  # the one-line ImageLoadError message (it names the file)


@frozen
class ImageScan:
    checked: int
    unreadable: tuple[UnreadableImage, ...]

    @property
    def clean(self) -> bool:
        return not self.unreadable


def scan_images(
    paths: Sequence[str],
    *,
    progress: Callable[[int, int], None] | None = None,
    load: Callable[[str], object] = load_image,
) -> ImageScan:
    """Decodes every image of ``paths``; the unreadable ones come back in the order given."""
    total = len(paths)
    bad: list[UnreadableImage] = []
    for done, path in enumerate(paths, start=1):
        problem = _problem(path, load)
        if problem is not None:
            bad.append(problem)
        if progress is not None and (done % _PROGRESS_EVERY == 0 or done == total):
            progress(done, total)
    return ImageScan(checked=total, unreadable=tuple(bad))


def _problem(path: str, load: Callable[[str], object]) -> UnreadableImage | None:
    try:
        load(path)
    except ImageLoadError as error:
        return UnreadableImage(path, str(error))
    return None


def report_path(report_dir: str | Path, domain: str) -> Path:
    return Path(report_dir) / f"unreadable_images_{domain or 'data'}.tsv"


def screen_training_images(
    dataset: ReidDataset,
    policy: Policy,
    report_dir: str | Path,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> ReidDataset:
    """``dataset`` if every training image decodes; otherwise stops (``fail``) or returns it without
    the bad images, train pids relabelled to stay contiguous (``skip``). Query and gallery are
    left to the evaluation, which reads them after the training epoch is saved."""
    if policy not in POLICIES:
        raise ValueError(f"unreadable-image policy must be one of {list(POLICIES)}, got {policy!r}")
    scan = scan_images([path for r in dataset.train for path in _paths(r)], progress=progress)
    report = report_path(report_dir, dataset.name)
    if scan.clean:
        report.unlink(missing_ok=True)  # a list left by an earlier run would be stale
        return dataset
    _write_report(report, scan.unreadable)
    count = f"{len(scan.unreadable)} of {scan.checked} training images of domain '{dataset.name}'"
    if policy == "fail":
        raise DatasetError(
            f"{count} cannot be read: {_first_few(scan.unreadable)}; the full list is in {one_line(str(report))}; "
            "fix or remove them, or set data.unreadable = 'skip' to train without them"
        )
    bad = {u.path for u in scan.unreadable}
    kept = tuple(k for k in (_without(r, bad) for r in dataset.train) if k is not None)
    if not kept:
        raise DatasetError(f"{count} cannot be read, so none is left to train on; the list is in {report}")
    log.warning("unreadable training images skipped", domain=dataset.name, skipped=len(bad), of=scan.checked, report=str(report))
    return ReidDataset(name=dataset.name, train=relabel_train(kept), query=dataset.query, gallery=dataset.gallery)


def _paths(record: Record) -> tuple[str, ...]:
    """The image files of a record: an image's path, a tracklet's frames."""
    return record.frames if isinstance(record, Tracklet) else (record.path,)


def _without(record: Record, bad: set[str]) -> Record | None:
    """``record`` without its unreadable files: an image goes, a tracklet keeps its good frames
    (and goes when none is left)."""
    if not isinstance(record, Tracklet):
        return None if record.path in bad else record
    frames = tuple(f for f in record.frames if f not in bad)
    if not frames:
        return None
    return record if len(frames) == len(record.frames) else attrs.evolve(record, frames=frames)


def _first_few(unreadable: Sequence[UnreadableImage]) -> str:
    shown = "; ".join(one_line(u.reason) for u in unreadable[:_SHOWN])
    more = len(unreadable) - _SHOWN
    return shown + (f" (and {more} more)" if more > 0 else "")


def _write_report(path: Path, unreadable: Sequence[UnreadableImage]) -> None:
    # Written beside, then renamed: every rank of a distributed run writes the same list.
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["path\treason"] + [f"{one_line(u.path)}\t{one_line(u.reason)}" for u in unreadable]
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(temporary, path)

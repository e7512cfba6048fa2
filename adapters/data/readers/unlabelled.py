"""A generic layout: a folder of images without identities, a target for unsupervised learning.

    root/<any sub-folders>/<image>     every image below root (sorted by relative path)

ReidDataset has no "unknown" pid, so each image is its own identity: train pid = its index
0..N-1, the instance labels that clustering methods start from. They claim nothing about who is
who (no two images are said to share a person); they are not ground truth, so a label-quality
score against them (TrueIdentityScorer) measures nothing and must not be configured. The camera
is a ``c<N>`` token of the file name when it has one (camid N - 1), else 0: camera-aware methods
then see a single camera. Query and gallery are empty: no evaluation happens on such a domain
(evaluate on a labelled dataset of the same scene instead).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import structlog

from reidkit.adapters.data.readers import DatasetReader
from reidkit.adapters.data.readers._common import IMAGE_SUFFIXES, as_folder, dataset, listing
from reidkit.adapters.data.readers.folders import camera_of
from reidkit.domain.errors import DatasetError, one_line
from reidkit.domain.types import ImageRecord, ReidDataset

TITLE = "unlabelled"
LAYOUT = "image files (.jpg, .jpeg, .png, .bmp) anywhere below the root"

log = structlog.get_logger(__name__)


def read(root: str | Path, *, domain: str = "", options: None = None) -> ReidDataset:
    base = as_folder(root, TITLE, LAYOUT)
    paths: list[str] = []
    skipped: Counter[str] = Counter()
    for top, dirs, files in os.walk(base, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith("."):
                skipped["hidden"] += 1
            elif os.path.splitext(name)[1].lower() not in IMAGE_SUFFIXES:
                skipped["other_extensions"] += 1
            else:
                paths.append(os.path.join(top, name))
    if not paths:
        raise DatasetError(f"{one_line(str(base))} holds no images (it holds {listing(base)}); expected {LAYOUT}")
    if skipped:
        log.info("files left out of an unlabelled folder", folder=str(base), images=len(paths), **dict(sorted(skipped.items())))
    paths.sort(key=lambda p: os.path.relpath(p, base))
    train = []
    for index, path in enumerate(paths):
        camera = camera_of(Path(path).stem)
        train.append(ImageRecord(path=path, pid=index, camid=max((camera or 1) - 1, 0), domain=domain))
    return dataset(domain or base.name, train, where=one_line(str(base)), evaluated=False, identities_known=False)


READER = DatasetReader(
    name="unlabelled",
    summary="images without identities for unsupervised targets: each image its own pid, no query/gallery",
    layout=LAYOUT,
    read=read,
)

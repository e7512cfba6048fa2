"""CUHK03 (Li et al., CVPR 2014): 1,467 persons, each seen by the two cameras of one of five
camera pairs, in hand-labelled and detected (DPM) boxes.

Official statistics, new protocol (Zhong et al., CVPR 2017; 767/700 ids, one split):
detected: train 767 ids / 7,365 images, query 700 / 1,400, gallery 700 / 5,332;
labeled:  train 767 ids / 7,368 images, query 700 / 1,400, gallery 700 / 5,328; 2 cameras.
Classic protocol (Li et al.; 20 splits from the mat's ``testsets``): train 1,367 ids, test 100 ids,
query = gallery = the test images (14,097 detected / 14,096 labeled images in all).

    root/
      cuhk03_release/cuhk-03.mat                    the official archive (HDF5, MATLAB v7.3)
      cuhk03_new_protocol_config_detected.mat      the new protocol (Zhong et al.'s release)
      cuhk03_new_protocol_config_labeled.mat
      images_detected/1_001_1_01.png                extracted once from cuhk-03.mat (needs h5py)
      images_labeled/...                           '<pair>_<pid:03>_<view>_<n:02>.png', 1-based
      cuhk03_classic_testsets.json                  the 20 classic test sets, written on extraction

The images are extracted from cuhk-03.mat on first use (as Torchreid does, with the same names:
cells 1..5 are view 1, 6..10 view 2, empty cells skipped), written as PNG without any imaging
library into a temporary folder renamed into place, so an interrupted extraction is redone. An
``images_<boxes>/`` folder already there (e.g. from Torchreid) is used as is; then h5py is only
needed for the classic protocol's test sets when cuhk03_classic_testsets.json is absent.

camid = view - 1 (two cameras, as the peers: a person is seen by one pair's two views).
Identity numbers: the new protocol's ``labels`` (query/gallery keep them); classic: 1..1,467 in
(pair, pid) order, train relabelled 0..1,366. Classic query = gallery: the Market protocol drops
each query's own image (same identity, same camera), so its matches are the other view's images;
the papers' classic numbers use single-gallery-shot CMC, which this evaluator does not compute.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Any, Literal

import numpy as np
from attrs import field, frozen, validators

from reidkit.adapters.data.readers import DatasetReader
from reidkit.adapters.data.readers._common import as_folder, dataset, layout_error, options_of, scan_images
from reidkit.domain.errors import DatasetError, one_line
from reidkit.domain.types import ImageRecord, ReidDataset

TITLE = "CUHK03"
MAT = Path("cuhk03_release") / "cuhk-03.mat"
TESTSETS = "cuhk03_classic_testsets.json"
LAYOUT = (
    "cuhk03_release/cuhk-03.mat (or extracted images_detected/ and images_labeled/) and, for the new "
    "protocol, cuhk03_new_protocol_config_detected.mat and cuhk03_new_protocol_config_labeled.mat"
)
CLASSIC_SPLITS = 20
_NAME = re.compile(r"^(\d+)_(\d+)_([12])_(\d+)\.png$", re.IGNORECASE)


@frozen(kw_only=True)
class Cuhk03Options:
    boxes: Literal["detected", "labeled"] = field(default="detected", validator=validators.in_(("detected", "labeled")))
    protocol: Literal["new", "classic"] = field(default="new", validator=validators.in_(("new", "classic")))
    split_id: int = field(default=0, validator=[validators.instance_of(int), validators.ge(0)])


def read(root: str | Path, *, domain: str = "", options: Cuhk03Options | None = None) -> ReidDataset:
    options = options_of(options, Cuhk03Options)
    base = as_folder(root, TITLE, LAYOUT)
    if not (base / MAT).is_file() and not any((base / f"images_{b}").is_dir() for b in ("detected", "labeled")):
        raise layout_error(base, TITLE, LAYOUT)
    splits = 1 if options.protocol == "new" else CLASSIC_SPLITS
    if options.split_id >= splits:
        raise DatasetError(
            f"{TITLE} {options.protocol} protocol has {splits} split(s): split_id {options.split_id} is not 0..{splits - 1}"
        )
    images = extracted_images(base, options.boxes)
    name = domain or base.name
    if options.protocol == "new":
        train, query, gallery = _new_protocol(base, images, options.boxes, domain)
    else:
        train, query, gallery = _classic(base, images, options.split_id, domain)
    return dataset(name, train, query, gallery, where=one_line(str(base)))


def extracted_images(base: Path, boxes: str) -> Path:
    """``images_<boxes>/`` under ``base``, extracted from cuhk-03.mat when it is not there yet."""
    folder = base / f"images_{boxes}"
    if folder.is_dir():
        return folder
    mat = base / MAT
    if not mat.is_file():
        raise DatasetError(f"{TITLE}: neither {one_line(str(folder))} nor {one_line(str(mat))} exists; expected {LAYOUT}")
    h5py = _h5py(f"extract the {boxes} images from {mat.name}")
    scratch = Path(tempfile.mkdtemp(prefix=f".images_{boxes}.", dir=base))
    try:
        with h5py.File(mat, "r") as data:
            for pair, pair_ref in enumerate(data[boxes][0], start=1):
                cells = data[pair_ref]  # (10, persons) of references, as h5py reads MATLAB's cell
                for person in range(cells.shape[1]):
                    for cell in range(cells.shape[0]):
                        image = np.asarray(data[cells[cell, person]]).T
                        if image.size == 0 or image.ndim < 3:
                            continue  # an empty cell: fewer than 10 images of this person
                        view = 1 if cell < 5 else 2
                        _write_png(scratch / f"{pair}_{person + 1:03d}_{view}_{cell + 1:02d}.png", image)
            if not (base / TESTSETS).is_file():
                _write_testsets(data, base / TESTSETS)
        os.replace(scratch, folder)
    except OSError as error:
        shutil.rmtree(scratch, ignore_errors=True)
        raise DatasetError(f"{TITLE}: cannot extract {one_line(str(mat))} into {one_line(str(folder))}: {error}") from None
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return folder


def _h5py(purpose: str) -> Any:
    try:
        import h5py  # noqa: PLC0415 - optional: only cuhk-03.mat (MATLAB v7.3, HDF5) needs it
    except ImportError:
        raise DatasetError(f"{TITLE} needs h5py to {purpose} (MATLAB v7.3 is HDF5): pip install h5py") from None
    return h5py


def _write_testsets(data: Any, path: Path) -> None:
    sets = [np.asarray(data[ref]).T.astype(int).tolist() for ref in data["testsets"][0]]
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(sets))
    os.replace(temporary, path)


def _testsets(base: Path) -> list[list[list[int]]]:
    path = base / TESTSETS
    if not path.is_file():
        mat = base / MAT
        if not mat.is_file():
            raise DatasetError(f"{TITLE} classic protocol needs {one_line(str(path))} or {one_line(str(mat))}")
        h5py = _h5py(f"read the classic test sets from {mat.name}")
        with h5py.File(mat, "r") as data:
            _write_testsets(data, path)
    return json.loads(path.read_text())


def _write_png(path: Path, image: np.ndarray) -> None:
    """An 8-bit RGB (or grey) PNG of ``image`` (H, W[, 3]): the stdlib's zlib, no imaging library."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    height, width = image.shape[:2]
    colour = 2 if image.ndim == 3 else 0
    rows = image.reshape(height, -1)
    raw = b"".join(b"\x00" + rows[y].tobytes() for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def _parse(name: str) -> tuple[int, int, int]:
    """(pair, pid within the pair, view) of an extracted image's name."""
    match = _NAME.match(name)
    if match is None:
        raise ValueError(f"{name!r} is not a CUHK03 image name (like 1_001_1_01.png)")
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def _new_protocol(
    base: Path, images: Path, boxes: str, domain: str
) -> tuple[list[ImageRecord], list[ImageRecord], list[ImageRecord]]:
    from scipy.io import loadmat  # noqa: PLC0415 - scipy is a dependency; only this protocol reads it

    config = base / f"cuhk03_new_protocol_config_{boxes}.mat"
    if not config.is_file():
        raise DatasetError(
            f"{TITLE} new protocol needs {one_line(str(config))} (Zhong et al.'s release); expected {LAYOUT}"
        )
    try:
        split = loadmat(str(config))
        filelist = [str(np.asarray(entry).reshape(-1)[0]) for entry in split["filelist"].reshape(-1)]
        labels = split["labels"].reshape(-1).astype(int)
        indexes = {key: split[f"{key}_idx"].reshape(-1).astype(int) - 1 for key in ("train", "query", "gallery")}
    except (KeyError, ValueError, IndexError, NotImplementedError, TypeError) as error:
        raise DatasetError(
            f"{one_line(str(config))} is not a CUHK03 new-protocol config (filelist, labels, train_idx, query_idx, "
            f"gallery_idx): {one_line(str(error))}"
        ) from None
    present = set(scan_images(images)[0])
    prefix = os.path.join(images, "")
    sets = {}
    for key, rows in indexes.items():
        records = []
        for row in rows:
            if not 0 <= row < len(filelist) or row >= len(labels):
                raise DatasetError(f"{one_line(str(config))}: {key}_idx {row + 1} is outside filelist (1..{len(filelist)})")
            name = filelist[row]
            if name not in present:
                raise DatasetError(
                    f"{one_line(str(config))}: filelist entry {row + 1} names {one_line(str(images / name))}, which does not exist"
                )
            try:
                _, _, view = _parse(name)
            except ValueError as error:
                raise DatasetError(f"{one_line(str(config))}: filelist entry {row + 1}: {one_line(str(error))}") from None
            records.append(ImageRecord(path=prefix + name, pid=int(labels[row]), camid=view - 1, domain=domain))
        sets[key] = records
    return sets["train"], sets["query"], sets["gallery"]


def _classic(
    base: Path, images: Path, split_id: int, domain: str
) -> tuple[list[ImageRecord], list[ImageRecord], list[ImageRecord]]:
    testsets = _testsets(base)
    if len(testsets) <= split_id:
        raise DatasetError(f"{one_line(str(base / TESTSETS))} holds {len(testsets)} test sets: no split_id {split_id}")
    test = {(int(pair), int(pid)) for pair, pid in testsets[split_id]}
    names, _ = scan_images(images)
    parsed = []
    for name in names:
        try:
            parsed.append((name, _parse(name)))
        except ValueError as error:
            raise DatasetError(f"{error} in {one_line(str(images))}") from None
    number = {person: i + 1 for i, person in enumerate(sorted({(pair, pid) for _, (pair, pid, _) in parsed}))}
    missing = sorted(test - number.keys())
    if missing:
        raise DatasetError(
            f"{TITLE} classic split {split_id} names pair {missing[0][0]} person {missing[0][1]}, who has no image in "
            f"{one_line(str(images))}"
        )
    train, query = [], []
    for name, (pair, pid, view) in parsed:
        record = ImageRecord(path=str(images / name), pid=number[(pair, pid)], camid=view - 1, domain=domain)
        (query if (pair, pid) in test else train).append(record)
    return train, query, list(query)


READER = DatasetReader(
    name="cuhk03",
    summary="CUHK03 new protocol: train 767 ids/7,365 images (labeled 7,368), query 700/1,400, gallery 700/5,332 "
    "(labeled 5,328), 2 cameras; classic: 20 splits of 1,367/100 ids",
    layout=LAYOUT,
    read=read,
    options=Cuhk03Options,
)

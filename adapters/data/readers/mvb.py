"""MVB, Multi-View Baggage (Zhang et al., PRCV 2019, arXiv 1907.11366): 4,519 bags and 22,660
images from two airports, with each bag's surface material. Every bag is photographed twice:
by the baggage handling system (the *gallery* side, ``g``, views g_1..g_3) and at the customs
checkpoint (the *probe* side, ``p``, views p_1..p_4). The task is probe → gallery retrieval.

Official statistics: train 4,019 ids / 20,176 images (11,596 gallery + 8,580 probe); the release's
validation part, which every paper uses as the test split, 500 ids / 2,484 images (1,432 gallery
+ 1,052 probe). As read here (split "test"): train 4,019 / 20,176, query 500 / 1,052 (probe),
gallery 500 / 1,432 (gallery); 7 cameras in train (3 gallery views + 4 probe views).

Two layouts, in the root or its ``MVB/`` (when both are there, the Market-style folders are read):

    bounding_box_train/0001_g_1.jpg    Market-style, as the community converts it: names
    query/4020_p_1.jpg                 '<id>_<g|p>_<view>.jpg' or '<id>_<g|p>_<view>_<n>.jpg';
    bounding_box_test/4020_g_2.jpg     query/ = probe, bounding_box_test/ = gallery
    Info/train.json ...                optional: the release's metadata, for the material

    MVB_train/Image/0001_g_1.jpg       the release itself
    MVB_train/Info/train.json          (some releases: format.json)
    MVB_val/Image/gallery/4020_g_2.jpg  MVB_val/Image/probe/4020_p_1.jpg
    MVB_val/Info/val_gallery.json      MVB_val/Info/val_probe.json

Each metadata file is ``{"image": [{"id", "image_name" or "image_path", "material", "datatype",
"dimsize", "image_id"}, ...]}``: ``id`` an int or a string of digits, ``image_path`` possibly a
Windows path (only its last part is used), ``material`` and ``datatype`` optional, ``dimsize``
and ``image_id`` not read. Identity, side and view come from the file name; the metadata must
agree with it and lends the material. An image without an entry is read from its name with
material "" (counted in the log). An entry whose file is missing is one line, or with ``missing
= "skip"`` left out and counted. A name of another form is one line: the OpenUnReID fork falls
back to camera 0 for it, which silently puts the image in another camera.

Records carry the attributes ``material`` (paperboard, hard, soft, others, or ""), ``side``
("gallery" or "probe") and ``view`` (the view number). Cameras: in query and gallery, every probe
image is camid 0 and every gallery image camid 1 (two capture systems, two cameras), so the Market
rule (same identity, same camera: not a match) removes nothing between them. In train, each
(side, view) is its own camera for camera-aware sampling: gallery view v is v - 1, probe view v
is G + v - 1, G the highest gallery view of the training images (g_1..g_3 → 0..2, p_1..p_4 →
3..6). ``view_as_camera = true`` gives camid = view - 1 everywhere, the fork's protocol, which
drops a probe's true matches taken from the same view number: for comparison only.

Split "val" draws ``val_identities`` training identities (seeded by ``seed``, the same on every
machine): their probe images are the query, their gallery images the gallery, and train keeps
the rest, so validation is identity-disjoint by construction (the fork slices a sorted file
list, which can cut an identity in two).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import structlog
from attrs import field, frozen, validators

from reidkit.adapters.data.box_attribute import BOX_ATTRIBUTE, box_text
from reidkit.adapters.data.readers import DatasetReader
from reidkit.adapters.data.readers._common import (
    as_folder,
    dataset,
    find_root,
    layout_error,
    options_of,
    scan_images,
    split_draw,
)
from reidkit.domain.errors import DatasetError, one_line
from reidkit.domain.types import ImageRecord, ReidDataset

TITLE = "MVB"
LAYOUT = (
    "bounding_box_train/, query/ (probe) and bounding_box_test/ (gallery) of '<id>_<g|p>_<view>.jpg' files, "
    "or the release's MVB_train/Image/ with MVB_train/Info/train.json (or format.json) and MVB_val/Image/gallery/, "
    "MVB_val/Image/probe/ with MVB_val/Info/val_gallery.json and val_probe.json (in the root or its MVB/)"
)
MARKET_DIRS = ("bounding_box_train", "query", "bounding_box_test")
BOXES = "boxes.json"  # the embedded baggage data's true boxes, beside the split folders
TRAIN_METADATA = ("train.json", "format.json")  # both names are known, by release
VAL_METADATA = {"gallery": "val_gallery.json", "probe": "val_probe.json"}
MATERIALS = ("paperboard", "hard", "soft", "others")
PROBE_CAMID, GALLERY_CAMID = 0, 1
SIDES = {"g": "gallery", "p": "probe"}
_NAME = re.compile(r"^(\d+)_([gp])_(\d+)(?:_\d+)?\.[A-Za-z]+$")
_FORMS = "'<id>_<g|p>_<view>.jpg' or '<id>_<g|p>_<view>_<n>.jpg', e.g. 0001_g_1.jpg"
_SHOWN = 6

log = structlog.get_logger(__name__)


@frozen(kw_only=True)
class MvbOptions:
    # "test": the release's val part is the query (probe) and gallery; "val": drawn training identities are
    split: Literal["test", "val"] = field(default="test", validator=validators.in_(("test", "val")))
    val_identities: int = field(default=500, validator=[validators.instance_of(int), validators.ge(1)])
    seed: int = field(default=0, validator=[validators.instance_of(int), validators.ge(0)])
    view_as_camera: bool = field(default=False, validator=validators.instance_of(bool))
    missing: Literal["fail", "skip"] = field(default="fail", validator=validators.in_(("fail", "skip")))


@frozen
class _Entry:
    """One image of a metadata file."""

    pid: int
    material: str
    side: str  # "g", "p", or "" when the entry has no datatype
    where: str  # "<file> entry <n>", for messages


@frozen
class _Image:
    path: str
    pid: int
    side: str  # "g" or "p"
    view: int
    material: str


def read(root: str | Path, *, domain: str = "", options: MvbOptions | None = None) -> ReidDataset:
    options = options_of(options, MvbOptions)
    base = as_folder(root, TITLE, LAYOUT)
    market = _market_fits(test=options.split == "test")
    official = _official_fits(test=options.split == "test")
    found = find_root(base, ("MVB",), lambda f: market(f) or official(f))
    if found is None:
        raise layout_error(base, TITLE, LAYOUT)
    read_split = _market_layout(found, options) if market(found) else _official_layout(found, options)
    train = read_split("train")
    train_camid = _train_cameras(train, options)
    if options.split == "test":
        query, gallery = read_split("probe"), read_split("gallery")
    else:
        ids = sorted({i.pid for i in train})
        if options.val_identities >= len(ids):
            raise DatasetError(
                f"{TITLE} val_identities = {options.val_identities} leaves no training identity: the training "
                f"split of {one_line(str(found))} has {len(ids)}"
            )
        held = set(split_draw("mvb", ids, options.val_identities, options.seed))
        query = [i for i in train if i.pid in held and i.side == "p"]
        gallery = [i for i in train if i.pid in held and i.side == "g"]
        train = [i for i in train if i.pid not in held]
    _report_probe_only(query, gallery, str(found))

    def test_camid(image: _Image, role: int) -> int:
        return image.view - 1 if options.view_as_camera else role

    boxes = _read_boxes(found / BOXES)
    return dataset(
        domain or found.name,
        [_record(i, train_camid(i), domain, boxes) for i in train],
        [_record(i, test_camid(i, PROBE_CAMID), domain, boxes) for i in query],
        [_record(i, test_camid(i, GALLERY_CAMID), domain, boxes) for i in gallery],
        where=one_line(str(found)),
    )


def _record(image: _Image, camid: int, domain: str, boxes: Mapping[tuple[str, str], str]) -> ImageRecord:
    path = Path(image.path)
    box = boxes.get((path.parent.name, path.name), "")
    return ImageRecord(
        path=image.path,
        pid=image.pid,
        camid=camid,
        domain=domain,
        attributes={
            "material": image.material, "side": SIDES[image.side], "view": str(image.view),
            **({BOX_ATTRIBUTE: box} if box else {}),
        },  # fmt: skip
    )


def _read_boxes(path: Path) -> dict[tuple[str, str], str]:
    """``boxes.json`` beside the split folders, when there is one (the embedded baggage data writes
    it; the release has none): ``{split folder: {file name: [x1, y1, x2, y2]}}`` in pixels, each
    kept as the image's ``box`` attribute (what a mask head's targets are built from)."""
    if not path.is_file():
        return {}
    try:
        table = json.loads(path.read_text())
        return {
            (folder, name): box_text(box)
            for folder, names in table.items()
            for name, box in names.items()
        }
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise DatasetError(f"{TITLE} boxes {one_line(str(path))} cannot be read: {one_line(str(exc))}; expected {{split folder: {{file: [x1, y1, x2, y2]}}}}") from None


def _train_cameras(train: Sequence[_Image], options: MvbOptions) -> Callable[[_Image], int]:
    """camid of a training image: one camera per (side, view), gallery views first."""
    if options.view_as_camera:
        return lambda image: image.view - 1
    offset = max((i.view for i in train if i.side == "g"), default=0)
    return lambda image: image.view - 1 if image.side == "g" else offset + image.view - 1


def _market_fits(*, test: bool) -> Callable[[Path], bool]:
    needed = MARKET_DIRS if test else MARKET_DIRS[:1]
    return lambda folder: all((folder / name).is_dir() for name in needed)


def _official_fits(*, test: bool) -> Callable[[Path], bool]:
    needed = ("MVB_train/Image", "MVB_val/Image") if test else ("MVB_train/Image",)
    return lambda folder: all((folder / name).is_dir() for name in needed)


# --- the two layouts: each returns a reader of the parts "train", "probe" and "gallery" ---------


def _market_layout(found: Path, options: MvbOptions) -> Callable[[str], list[_Image]]:
    """Market-style folders; the release's metadata, when beside them, lends the material."""
    entries: dict[str, _Entry] = {}
    for folder in (found / "Info", found / "MVB_train" / "Info", found / "MVB_val" / "Info"):
        for name in (*TRAIN_METADATA, *VAL_METADATA.values()):
            if (folder / name).is_file():
                _merge(entries, _read_metadata(folder / name))
    folders = dict(zip(("train", "probe", "gallery"), MARKET_DIRS))

    def read_part(part: str) -> list[_Image]:
        # entries of other images are expected here: the metadata describes the whole release
        return _read_images(found / folders[part], entries or None, missing=None, options=options)

    return read_part


def _official_layout(found: Path, options: MvbOptions) -> Callable[[str], list[_Image]]:
    def read_part(part: str) -> list[_Image]:
        if part == "train":
            info, images = found / "MVB_train" / "Info", found / "MVB_train" / "Image"
            names = [n for n in TRAIN_METADATA if (info / n).is_file()]
            if len(names) > 1:
                log.info("MVB metadata: both names present, the first is read", read=names[0], ignored=names[1:])
        else:
            info, images = found / "MVB_val" / "Info", found / "MVB_val" / "Image" / part
            names = [VAL_METADATA[part]] if (info / VAL_METADATA[part]).is_file() else []
        if not names:
            expected = " or ".join(TRAIN_METADATA) if part == "train" else VAL_METADATA[part]
            raise DatasetError(
                f"{TITLE} release folder {one_line(str(info))} has no {expected} (it holds {_listing(info)}); "
                f"the release's metadata is read with its images"
            )
        entries = _read_metadata(info / names[0])
        return _read_images(images, entries, missing=info / names[0], options=options)

    return read_part


def _listing(folder: Path) -> str:
    try:
        names = sorted(one_line(n) for n in os.listdir(folder) if not n.startswith("."))
    except OSError:
        return "nothing readable"
    return ", ".join(names[:_SHOWN]) + (f" (+{len(names) - _SHOWN} more)" if len(names) > _SHOWN else "") or "nothing"


# --- names and metadata ---------------------------------------------------------------------------


def parse_name(name: str) -> tuple[int, str, int]:
    """(id, side "g"/"p", view) of an MVB file name; ValueError naming the forms otherwise."""
    match = _NAME.match(name)
    if match is None:
        raise ValueError(
            f"file name {one_line(name)!r} is not an MVB name ({_FORMS}); reidkit does not guess its view, as "
            "the OpenUnReID fork does with camera 0, because the view sets the image's camera"
        )
    view = int(match.group(3))
    if view < 1:
        raise ValueError(f"file name {one_line(name)!r} has view {view}; MVB views count from 1")
    return int(match.group(1)), match.group(2), view


def _read_images(
    folder: Path, entries: Mapping[str, _Entry] | None, *, missing: Path | None, options: MvbOptions
) -> list[_Image]:
    """The images directly in ``folder``, identity/side/view from their names, material from
    ``entries`` by name. ``missing``: the metadata file whose entries must all have a file here
    (None: entries of other images are expected, as beside Market-style folders)."""
    if not folder.is_dir():
        raise DatasetError(f"{TITLE} split folder {one_line(str(folder))} does not exist")
    names, skipped = scan_images(folder)
    prefix = os.path.join(folder, "")
    images, unlisted = [], 0
    for name in names:
        try:
            pid, side, view = parse_name(name)
        except ValueError as error:
            raise DatasetError(f"{error} in {one_line(str(folder))}") from None
        entry = entries.get(name) if entries else None
        if entry is None:
            unlisted += 1
        else:
            if entry.pid != pid:
                raise DatasetError(f"{entry.where} gives id {entry.pid} to {one_line(name)}, whose name says {pid}")
            if entry.side and entry.side != side:
                raise DatasetError(
                    f"{entry.where} gives datatype {entry.side!r} to {one_line(name)}, whose name says {side!r}"
                )
        images.append(_Image(prefix + name, pid, side, view, entry.material if entry else ""))
    if missing is not None and entries:
        present = set(names)
        absent = [(n, e) for n, e in entries.items() if n not in present]
        if absent and options.missing == "fail":
            name, entry = absent[0]
            more = f" (and {len(absent) - 1} more entries)" if len(absent) > 1 else ""
            raise DatasetError(
                f"{entry.where} lists {one_line(name)}, which is not in {one_line(str(folder))}{more}; "
                "set missing = \"skip\" to leave such entries out"
            )
        if absent:
            skipped["listed_but_missing"] = len(absent)
    if entries and unlisted:
        skipped["read_without_metadata"] = unlisted
    if skipped:
        log.info("MVB split read", split=str(folder), images=len(images), **dict(sorted(skipped.items())))
    if not images:
        raise DatasetError(f"{TITLE} split folder {one_line(str(folder))} holds no usable images")
    return images


def _read_metadata(path: Path) -> dict[str, _Entry]:
    """image name -> entry of one of the release's metadata files; one line on anything else."""
    where = one_line(str(path))
    try:
        content = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"{TITLE} metadata {where} cannot be read: {one_line(str(error))}") from None
    except json.JSONDecodeError as error:
        raise DatasetError(f"{TITLE} metadata {where} is not JSON (line {error.lineno}: {error.msg})") from None
    listed = content.get("image") if isinstance(content, dict) else None
    if not isinstance(listed, list):
        if isinstance(content, dict):
            found = f"keys {', '.join(sorted(map(str, content)))[:120]}" if content else "an empty object"
        else:
            found = type(content).__name__
        raise DatasetError(
            f"{TITLE} metadata {where} is not the release's layout: expected an object with an 'image' list, "
            f"found {found}"
        )
    entries: dict[str, _Entry] = {}
    unknown: Counter[str] = Counter()
    for index, item in enumerate(listed):
        at = f"{TITLE} metadata {where} entry {index}"
        if not isinstance(item, dict):
            raise DatasetError(f"{at} is {type(item).__name__}, not an object with 'id' and 'image_name'")
        name = _image_name(item, at)
        entry = _Entry(_identity(item, at), _text(item, "material", at), _datatype(item, at), at)
        if name in entries:
            first = entries[name].where.rsplit(" ", 1)[1]
            raise DatasetError(f"{at} lists {one_line(name)} again (first in entry {first})")
        if entry.material and entry.material not in MATERIALS:
            unknown[entry.material] += 1
        entries[name] = entry
    if unknown:
        log.warning(
            "MVB metadata: materials other than the known ones, kept as they are",
            file=str(path),
            known=", ".join(MATERIALS),
            found=dict(unknown.most_common(_SHOWN)),
        )
    return entries


def _merge(into: dict[str, _Entry], more: Mapping[str, _Entry]) -> None:
    for name, entry in more.items():
        if name in into and into[name].pid != entry.pid:
            first = into[name]
            raise DatasetError(f"{entry.where} gives id {entry.pid} to {one_line(name)}; {first.where} gives {first.pid}")
        into.setdefault(name, entry)


def _image_name(item: Mapping[str, Any], at: str) -> str:
    """``image_name``, else the last part of ``image_path`` (Windows or POSIX separators)."""
    for key in ("image_name", "image_path"):
        value = item.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise DatasetError(f"{at} has {key} {one_line(repr(value))[:80]}, not a file name")
        return re.split(r"[\\/]", value.strip())[-1]
    raise DatasetError(f"{at} has no 'image_name' (nor 'image_path'); each entry needs it and 'id'")


def _identity(item: Mapping[str, Any], at: str) -> int:
    value = item.get("id")
    if value is None:
        raise DatasetError(f"{at} has no 'id'; each entry needs it and 'image_name'")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise DatasetError(f"{at} has id {one_line(repr(value))[:80]}, not a number (an int or a string of digits)")


def _text(item: Mapping[str, Any], key: str, at: str) -> str:
    value = item.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DatasetError(f"{at} has {key} {one_line(repr(value))[:80]}, not a string")
    return value.strip()


def _datatype(item: Mapping[str, Any], at: str) -> str:
    value = _text(item, "datatype", at).lower()
    if value not in ("", "g", "p"):
        raise DatasetError(f"{at} has datatype {value!r}; it is 'g' (gallery) or 'p' (probe)")
    return value


def _report_probe_only(query: Iterable[_Image], gallery: Iterable[_Image], where: str) -> None:
    """Probe identities without a gallery image: their queries are counted by the evaluation
    (num_queries - num_valid_queries), never scored; said here by identity."""
    shown = {i.pid for i in gallery}
    alone = Counter(i.pid for i in query if i.pid not in shown)
    if alone:
        ids = sorted(alone)
        log.warning(
            "MVB probe identities without a gallery image: their queries cannot be scored",
            dataset=where,
            identities=len(ids),
            queries=sum(alone.values()),
            first=", ".join(map(str, ids[:_SHOWN])) + (f" (+{len(ids) - _SHOWN} more)" if len(ids) > _SHOWN else ""),
        )


READER = DatasetReader(
    name="mvb",
    summary="MVB (Multi-View Baggage): train 4,019 ids/20,176 images; test = the release's val part, probe "
    "(query) 500/1,052, gallery 500/1,432; material, side and view on every record",
    layout=LAYOUT,
    read=read,
    options=MvbOptions,
)

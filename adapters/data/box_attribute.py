"""The true bounding box a record carries (torch-free, so that dataset readers can attach it):
the ``box`` attribute, ``"x1 y1 x2 y2"`` in pixels of the stored image. ``adapters/data/boxes.py``
moves it with the image through the training transform."""

from __future__ import annotations

from collections.abc import Sequence

from reidkit.domain.errors import DatasetError
from reidkit.domain.types import ImageRecord

BOX_ATTRIBUTE = "box"

Box = tuple[float, float, float, float]


def box_text(box: Sequence[float]) -> str:
    """The attribute value of a pixel box."""
    x1, y1, x2, y2 = (float(v) for v in box)
    if not (x2 > x1 and y2 > y1):
        raise ValueError(f"a box needs x2 > x1 and y2 > y1, got {list(box)}")
    return f"{x1:g} {y1:g} {x2:g} {y2:g}"


def box_of(record: ImageRecord) -> Box | None:
    """The record's pixel box, or None when it has none; a malformed one is a DatasetError."""
    text = record.attribute(BOX_ATTRIBUTE)
    if not text:
        return None
    try:
        x1, y1, x2, y2 = (float(v) for v in text.split())
    except ValueError:
        raise DatasetError(f"image {record.path} has a malformed box {text!r}; expected 'x1 y1 x2 y2' in pixels") from None
    return x1, y1, x2, y2


def require_boxes(records: Sequence[ImageRecord], what: str) -> None:
    """One line when any of ``records`` lacks a box: a mask head cannot learn from made-up ones."""
    missing = [r for r in records if box_of(r) is None]
    if missing:
        raise DatasetError(
            f"{what}: {len(missing)} of {len(records)} training images have no bounding box (first: {missing[0].path}); "
            "the mask head's targets come from the true boxes (a dataset's boxes.json): use data with boxes, or "
            "model.mask_head = false"
        )

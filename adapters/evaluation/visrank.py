"""Ranked-result pictures: a query, then its top-k gallery matches framed green (same identity)
or red (another), as the protocol ranks them (same identity under the query's camera left out)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

CORRECT = (0, 160, 60)
WRONG = (210, 30, 30)
QUERY = (40, 40, 40)
BACKGROUND = (255, 255, 255)


def ranked_matches(
    distances: np.ndarray, q_pid: int, q_camid: int, g_pids: np.ndarray, g_camids: np.ndarray, top: int
) -> tuple[np.ndarray, np.ndarray]:
    """The gallery indices of one query's ``top`` nearest matches (stable order on ties) and
    whether each shares its identity; same identity and camera are not candidates."""
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    candidates = ~((g_pids == q_pid) & (g_camids == q_camid))
    order = np.argsort(distances, kind="stable")
    order = order[candidates[order]][:top]
    return order, g_pids[order] == q_pid


def ranked_row(
    query: Image.Image,
    matches: Sequence[Image.Image],
    correct: Sequence[bool],
    *,
    cell: tuple[int, int] = (128, 64),
    border: int = 4,
    gap: int = 6,
    caption: str = "",
) -> Image.Image:
    """One picture: the query (dark frame), a wider gap, then each match in its green/red frame;
    ``cell`` is (height, width) of each image inside its frame."""
    if len(matches) != len(correct):
        raise ValueError(f"{len(matches)} matches but {len(correct)} correctness flags")
    height, width = cell
    framed_w, framed_h = width + 2 * border, height + 2 * border
    caption_h = 14 if caption else 0
    total_w = framed_w * (1 + len(matches)) + gap * (len(matches) + 2) + 2 * gap
    canvas = Image.new("RGB", (total_w, framed_h + 2 * gap + caption_h), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    if caption:
        draw.text((gap, 2), caption, fill=QUERY)
    x = gap
    for index, (image, colour) in enumerate(
        [(query, QUERY), *((m, CORRECT if ok else WRONG) for m, ok in zip(matches, correct, strict=True))]
    ):
        top = gap + caption_h
        draw.rectangle([x, top, x + framed_w - 1, top + framed_h - 1], fill=colour)
        canvas.paste(image.convert("RGB").resize((width, height)), (x + border, top + border))
        x += framed_w + (3 * gap if index == 0 else gap)
    return canvas


def stacked(rows: Sequence[Image.Image]) -> Image.Image:
    """``rows`` one above the other, left-aligned on white."""
    if not rows:
        raise ValueError("no rows to stack")
    canvas = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), BACKGROUND)
    y = 0
    for row in rows:
        canvas.paste(row, (0, y))
        y += row.height
    return canvas

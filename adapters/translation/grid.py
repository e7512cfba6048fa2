"""The picture a translation run writes at each evaluation: source | translated | cycled back | target.

Losses alone do not tell a collapsed generator from a good one; a grid of a few fixed images does, at a
glance. Images arrive as the GAN sees them, (N, 3, H, W) in [-1, 1], and leave as PIL images (for a
PNG on disk) or as a [0, 1] tensor (what TensorBoard's ``add_image`` takes).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image


def _to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] to bytes with the same rounding everywhere, so a pixel written is the pixel read back."""
    pixels = torch.round((images.detach().float().cpu().clamp(-1.0, 1.0) + 1.0) * 127.5)
    return pixels.to(torch.uint8)


def to_pil(image: torch.Tensor) -> Image.Image:
    """One (3, H, W) image in [-1, 1] as an RGB image; out-of-range values (a GAN's overshoot) are clamped."""
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"to_pil expects one (3, H, W) image, got shape {tuple(image.shape)}")
    array = _to_uint8(image).permute(1, 2, 0).contiguous().numpy()
    return Image.fromarray(array)


def image_grid(columns: Sequence[torch.Tensor], *, gap: int = 2) -> Image.Image:
    """Row i holds ``columns[0][i], columns[1][i], ...``, cells separated by a white gutter of ``gap`` pixels.

    One row per image keeps each source next to its own translation and reconstruction, which is
    the comparison that matters; every column must therefore hold the same number of equally sized
    images.
    """
    if not columns:
        raise ValueError("image_grid needs at least one column")
    if gap < 0:
        raise ValueError(f"gap must be >= 0, got {gap}")
    reference = tuple(columns[0].shape)
    for index, column in enumerate(columns):
        shape = tuple(column.shape)
        if column.dim() != 4 or shape[1] != 3 or shape[0] == 0:
            raise ValueError(f"column {index} has shape {shape}; expected a non-empty (N, 3, H, W) batch")
        if shape != reference:
            raise ValueError(f"column {index} has shape {shape}, column 0 has {reference}")
    rows, _, height, width = reference
    grid_width = len(columns) * width + (len(columns) - 1) * gap
    grid_height = rows * height + (rows - 1) * gap
    canvas = np.full((grid_height, grid_width, 3), 255, dtype=np.uint8)
    for col, column in enumerate(columns):
        cells = _to_uint8(column).permute(0, 2, 3, 1).numpy()
        left = col * (width + gap)
        for row in range(rows):
            top = row * (height + gap)
            canvas[top : top + height, left : left + width] = cells[row]
    return Image.fromarray(canvas)


def grid_tensor(image: Image.Image) -> torch.Tensor:
    """The grid as a (3, H, W) float tensor in [0, 1], TensorBoard's image layout."""
    array = np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    return torch.from_numpy(array).permute(2, 0, 1).float().div_(255.0)

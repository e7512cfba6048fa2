"""Market-1501-style folders: of empty files, for tests of the name parser (it reads names only),
or of small decodable images (``market_images``), for tests that load the pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SPLITS = ("bounding_box_train", "query", "bounding_box_test")


def market_layout(root: Path, files: dict[str, list[str]]) -> Path:
    for split in SPLITS:
        (root / split).mkdir(parents=True, exist_ok=True)
        for name in files.get(split, []):
            (root / split / name).write_bytes(b"")
    return root


def market_images(root: Path, files: dict[str, list[str]], *, size: tuple[int, int] = (10, 20), seed: int = 0) -> Path:
    """Like ``market_layout``, but each file a real ``size`` (width, height) RGB image of random
    pixels, saved in the format its suffix names (.jpg JPEG, .png PNG)."""
    rng = np.random.default_rng(seed)
    for split in SPLITS:
        (root / split).mkdir(parents=True, exist_ok=True)
        for name in files.get(split, []):
            pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(pixels, "RGB").save(root / split / name)
    return root

"""Market-1501-style folders of empty files, for tests of the name parser (it reads names only)."""

from __future__ import annotations

from pathlib import Path

SPLITS = ("bounding_box_train", "query", "bounding_box_test")


def market_layout(root: Path, files: dict[str, list[str]]) -> Path:
    for split in SPLITS:
        (root / split).mkdir(parents=True, exist_ok=True)
        for name in files.get(split, []):
            (root / split / name).write_bytes(b"")
    return root

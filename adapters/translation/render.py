"""Rendering a dataset through a trained generator: the ``Translator`` and ``TranslatedDataset``
ports. The rendered images keep their file names (a Market name carries the identity and the
camera), so the result is a Market-layout dataset any reader of reidkit reads as it reads the
original, and ``manifest.json`` says which image came from which and what made it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import attrs
import torch
from torch import nn

from reidkit.adapters.data.images import load_image
from reidkit.adapters.data.transforms import build_gan_transform
from reidkit.adapters.steps.precision import Precision
from reidkit.adapters.translation.grid import to_pil
from reidkit.domain.errors import DatasetError
from reidkit.domain.types import ImageRecord

MANIFEST = "manifest.json"
_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}


class GeneratorTranslator:
    """Implements ``Translator``: each record's image, resized to the generator's input size and
    put through ``generator`` in batches, written under ``out_dir`` with the record's file name
    (JPEG at ``quality``, or PNG for a .png name). The generator runs in eval mode, under the
    run's mixed precision (``amp``), and is left in the mode it came in. Same weights, same images:
    nothing here is random. ``progress(done, total)`` hears of each batch."""

    def __init__(
        self,
        generator: nn.Module,
        *,
        height: int,
        width: int,
        device: str | torch.device = "cpu",
        amp: bool | str = False,
        batch_size: int = 32,
        quality: int = 95,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 1 <= quality <= 100:
            raise ValueError(f"quality must be in [1, 100], got {quality}")
        self.generator = generator
        self.device = torch.device(device)
        self.precision = Precision(self.device, amp)
        self.transform = build_gan_transform(height, width, flip_p=0.0)
        self.batch_size = int(batch_size)
        self.quality = int(quality)
        self.progress = progress

    def translate(self, records: Sequence[ImageRecord], out_dir: str) -> tuple[ImageRecord, ...]:
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        names = [Path(r.path).name for r in records]
        for name in names:
            if Path(name).suffix.lower() not in _FORMATS:
                raise DatasetError(f"cannot write {name}: rendered images are .jpg, .jpeg or .png")
        if len(set(names)) != len(names):
            duplicate = next(n for n in names if names.count(n) > 1)
            raise DatasetError(f"two images of one split are both named {duplicate}; a rendered split keeps file names")
        was_training = self.generator.training
        self.generator.eval()
        rendered: list[ImageRecord] = []
        try:
            for start in range(0, len(records), self.batch_size):
                chunk = records[start : start + self.batch_size]
                images = torch.stack([self.transform(load_image(r.path)) for r in chunk]).to(self.device)
                with torch.no_grad(), self.precision.autocast():
                    translated = self.generator(images).float().cpu()
                for record, image in zip(chunk, translated, strict=True):
                    path = folder / Path(record.path).name
                    _write_image(to_pil(image), path, self.quality)
                    rendered.append(attrs.evolve(record, path=str(path.absolute())))
                if self.progress is not None:
                    self.progress(len(rendered), len(records))
        finally:
            self.generator.train(was_training)
        return tuple(rendered)


def _write_image(image: object, path: Path, quality: int) -> None:
    """Written beside its final name and renamed, so a killed rendering leaves no half image."""
    temp = path.with_name(f".{path.name}.tmp")
    fmt = _FORMATS[path.suffix.lower()]
    image.save(temp, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))  # type: ignore[attr-defined]
    os.replace(temp, path)


class MarketRendering:
    """Implements ``TranslatedDataset`` as a Market-layout folder: one sub-folder per split
    (``bounding_box_train``, ``query``, ``bounding_box_test``) and ``manifest.json``, written last
    (atomically), so a rendering without a manifest, or with another ``made_by``, is not current
    and is rendered again."""

    def __init__(self, root: str | Path, *, source: str = "", target: str = "") -> None:
        self.root = Path(root)
        self.source, self.target = source, target

    def split_dir(self, folder: str) -> str:
        return str(self.root / folder)

    def is_current(self, made_by: str) -> bool:
        manifest = read_manifest(self.root, missing_ok=True)
        return manifest is not None and manifest.get("made_by") == made_by

    def publish(self, splits: Mapping[str, Sequence[tuple[ImageRecord, ImageRecord]]], made_by: str) -> None:
        manifest = {
            "made_by": made_by,
            "source_domain": self.source,
            "style_of": self.target,
            "splits": {
                folder: {
                    "images": len(pairs),
                    "identities": len({original.pid for original, _ in pairs}),
                    "cameras": sorted({original.camid + 1 for original, _ in pairs}),
                    "files": [[Path(rendered.path).name, original.path] for original, rendered in pairs],
                }
                for folder, pairs in splits.items()
            },
        }
        self.root.mkdir(parents=True, exist_ok=True)
        temp = self.root / f".{MANIFEST}.tmp"
        temp.write_text(json.dumps(manifest, indent=1))
        os.replace(temp, self.root / MANIFEST)


def read_manifest(root: str | Path, *, missing_ok: bool = False) -> dict | None:
    """The manifest of a rendered dataset; None when absent and ``missing_ok``."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        if missing_ok:
            return None
        raise DatasetError(f"{path} does not exist: {root} is not a finished translation (run `reidkit translate` first)")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from None

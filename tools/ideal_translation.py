"""The ideal translation of the embedded data: the source's images drawn again by the target's
cameras (same people, same random draws; the target's scenes and imaging), written as a rendered
dataset that ``translated.root`` reads like a translator's output. Training on it measures how far
image translation could close the demo's domain gap, the bound for CycleGAN and SPGAN (issue 20,
docs/translation.md).

    .venv/bin/python tools/ideal_translation.py --out runs/translate/ideal
    reidkit train --profile spgan_supervised --set translated.root=runs/translate/ideal/source --set seed=0

The source's query and gallery are rendered too, as a translation run renders them. ``--compare``
also draws a grid of the same training images as they are, as each given rendering has them and as
the ideal translation has them (one row an image, a column a rendering, in the order given):

    .venv/bin/python tools/ideal_translation.py --compare RUN/translation/translated ... --grid docs/images/x.png
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from reidkit.adapters.data.market import GALLERY_DIR, QUERY_DIR, TRAIN_DIR, read_market
from reidkit.adapters.data.synth import ensure_synthetic, render_in_style
from reidkit.adapters.translation.grid import image_grid
from reidkit.adapters.translation.render import MarketRendering, read_manifest
from reidkit.entrypoints.parts.data import default_data_dir

MADE_BY = "the embedded data's generator: the source's images drawn by the target's cameras (ideal translation)"


def comparison_grid(original: Path, renderings: Sequence[Path], *, rows: int, out: Path) -> None:
    """Every ``rows``-th training image (spread over the identities) in each folder, side by side."""
    names = sorted(path.name for path in (original / TRAIN_DIR).glob("*.jpg"))
    names = names[:: max(1, len(names) // rows)][:rows]

    def column(root: Path) -> torch.Tensor:
        pixels = [np.asarray(Image.open(root / TRAIN_DIR / name).convert("RGB"), dtype=np.float32) for name in names]
        return torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2) / 127.5 - 1.0

    image_grid([column(original), *(column(root) for root in renderings)]).save(out)
    print(f"{out}: {rows} images; columns: {original}, {', '.join(map(str, renderings))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/translate/ideal"))
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--seed", type=int, default=0, help="the data's seed (data.seed), not the training's")
    parser.add_argument("--domain", default="source")
    parser.add_argument("--style-of", default="target")
    parser.add_argument("--compare", type=Path, nargs="+", default=[], help="renderings to show beside the ideal one")
    parser.add_argument("--grid", type=Path, default=Path("translation_vs_ideal.png"))
    parser.add_argument("--rows", type=int, default=8)
    args = parser.parse_args()
    root = args.out / args.domain
    original_root = ensure_synthetic(args.preset, args.seed, default_data_dir())[args.domain]
    if (read_manifest(root, missing_ok=True) or {}).get("made_by") != MADE_BY:
        render(args, original_root, root)
    else:
        print(f"{root} is already rendered")
    if args.compare:
        comparison_grid(original_root, [*args.compare, root], rows=args.rows, out=args.grid)


def render(args: argparse.Namespace, original_root: Path, root: Path) -> None:
    originals = read_market(original_root, domain=args.domain)
    render_in_style(args.preset, args.seed, args.out, domain=args.domain, style_of=args.style_of)
    rendered = read_market(root, domain=args.domain)
    splits = {}
    for folder, before, after in (
        (TRAIN_DIR, originals.train, rendered.train),
        (QUERY_DIR, originals.query, rendered.query),
        (GALLERY_DIR, originals.gallery, rendered.gallery),
    ):
        by_name = {Path(record.path).name: record for record in before}
        splits[folder] = [(by_name[Path(record.path).name], record) for record in after]
    MarketRendering(root, source=args.domain, target=args.style_of).publish(splits, MADE_BY)
    print(f"{root}: {', '.join(f'{len(pairs)} {folder}' for folder, pairs in splits.items())}")


if __name__ == "__main__":
    main()

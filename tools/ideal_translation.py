"""The ideal translation of the embedded data: the source's images drawn again by the target's
cameras (same people, same random draws; the target's scenes and imaging), written as a rendered
dataset that ``translated.root`` reads like a translator's output. Training on it measures how far
image translation could close the demo's domain gap, the bound for CycleGAN and SPGAN (issue 20,
docs/translation.md).

    .venv/bin/python tools/ideal_translation.py --out runs/translate/ideal
    reidkit train --profile spgan_supervised --set translated.root=runs/translate/ideal/source --set seed=0

The source's query and gallery are rendered too, as a translation run renders them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reidkit.adapters.data.market import GALLERY_DIR, QUERY_DIR, TRAIN_DIR, read_market
from reidkit.adapters.data.synth import ensure_synthetic, render_in_style
from reidkit.adapters.translation.render import MarketRendering, read_manifest
from reidkit.entrypoints.parts.data import default_data_dir

MADE_BY = "the embedded data's generator: the source's images drawn by the target's cameras (ideal translation)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/translate/ideal"))
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--seed", type=int, default=0, help="the data's seed (data.seed), not the training's")
    parser.add_argument("--domain", default="source")
    parser.add_argument("--style-of", default="target")
    args = parser.parse_args()
    root = args.out / args.domain
    if (read_manifest(root, missing_ok=True) or {}).get("made_by") == MADE_BY:
        print(f"{root} is already rendered")
        return
    originals = read_market(ensure_synthetic(args.preset, args.seed, default_data_dir())[args.domain], domain=args.domain)
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

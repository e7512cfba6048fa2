"""``reidkit data synth``: generate (or reuse) the embedded synthetic data set; ``reidkit data
stats``: identities, images (video: tracklets) and cameras per split of any data settings."""

from __future__ import annotations

import argparse
from pathlib import Path

from reidkit.entrypoints.commands import data_analyze
from reidkit.entrypoints.commands.common import add_overrides


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="data set tools")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    synth = actions.add_parser("synth", help="generate the embedded synthetic data (cached by preset, seed)")
    synth.add_argument("--preset", choices=["tiny", "demo", "demo_dense", "tiny_video", "tiny_baggage", "baggage"], default="demo")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--out", type=Path, help="cache folder (default: $REIDKIT_DATA_DIR or ~/.cache/reidkit/synthetic)")
    synth.set_defaults(handler=run_synth)
    stats = actions.add_parser("stats", help="identities, images and cameras per split of a profile's data (or --set data.*)")
    stats.add_argument("--profile", help="whose [data] to read (default: the default settings: the demo synthetic data)")
    add_overrides(stats, "data settings; repeatable", metavar="data.KEY=VALUE")
    stats.add_argument("--data", "--domain", dest="domains", action="append", help="only this domain; repeatable")
    stats.add_argument("--json", type=Path, help="also write the table here")
    stats.set_defaults(handler=run_stats)
    data_analyze.register(actions)  # `data analyze`: charts and a report of a dataset folder


def run_synth(args: argparse.Namespace) -> int:
    from reidkit.entrypoints.parts.data import default_data_dir, synthetic_domains

    out = args.out or default_data_dir()
    for name, data in synthetic_domains(args.preset, args.seed, str(out), quiet=args.quiet).items():
        root = Path(out) / f"{args.preset}-seed{args.seed}" / name
        counts = ", ".join(f"{k}={v}" for k, v in data.summary().items())
        print(f"{name}: {root}\n  {counts}" + (" (images = tracklets)" if data.is_video else ""))
        if (root / "boxes.json").is_file():  # the baggage presets: each image's box and mask beside it
            print(f"  boxes: {root / 'boxes.json'}  masks: {root / 'masks'}/<split>/<name>.png")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    import json

    from reidkit.application.evaluate import pick_domain
    from reidkit.entrypoints.commands.common import writable_output
    from reidkit.entrypoints.settings import load_data_settings

    settings = load_data_settings(args.profile, args.overrides)
    if args.json:
        writable_output(args.json, "--json")

    from reidkit.entrypoints.parts.data import settings_domains

    domains = settings_domains(settings, quiet=args.quiet)
    names = args.domains or list(domains)
    table = {name: pick_domain(domains, name).split_statistics() for name in names}
    units = {name: "tracklets" if pick_domain(domains, name).is_video else "images" for name in names}
    for name, rows in table.items():
        print(statistics_table(name, rows, units[name]))
    if args.json:
        payload = {
            name: {split: {"ids": i, units[name]: n, "cameras": c} for split, i, n, c in rows} for name, rows in table.items()
        }
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


def statistics_table(name: str, rows: list[tuple[str, int, int, int]], unit: str = "images") -> str:
    width = max(9, len(unit) + 2)
    head = f"  {'subset':<8} | {'# ids':>7} | {'# ' + unit:>{width}} | {'# cameras':>9}"
    rule = "  " + "-" * (len(head) - 2)
    body = [f"  {split:<8} | {ids:>7,} | {images:>{width},} | {cameras:>9}" for split, ids, images, cameras in rows]
    return "\n".join([f"{name}:", rule, head, rule, *body, rule])

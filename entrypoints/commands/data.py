"""``reidkit data synth``: generate (or reuse) the embedded synthetic data set."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="data set tools")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    synth = actions.add_parser("synth", help="generate the embedded two-domain synthetic data (cached by preset, seed)")
    synth.add_argument("--preset", choices=["tiny", "demo"], default="demo")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--out", type=Path, help="cache folder (default: $REIDKIT_DATA_DIR or ~/.cache/reidkit/synthetic)")
    synth.set_defaults(handler=run_synth)


def run_synth(args: argparse.Namespace) -> int:
    from reidkit.adapters.data.market import read_market
    from reidkit.adapters.data.synth import ensure_synthetic
    from reidkit.entrypoints.parts.data import default_data_dir

    from reidkit.adapters.runtime.observers import progress_callback

    progress = progress_callback(f"generating synthetic data ({args.preset}, seed {args.seed})", enabled=not args.quiet)
    roots = ensure_synthetic(args.preset, args.seed, args.out or default_data_dir(), progress=progress)
    for name, root in roots.items():
        summary = read_market(root, domain=name).summary()
        counts = ", ".join(f"{k}={v}" for k, v in summary.items())
        print(f"{name}: {root}\n  {counts}")
    return 0

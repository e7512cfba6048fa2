"""``reidkit data analyze --root DIR [--layout KIND] [--out DIR]``: reads a dataset folder with the
reader of its layout (any kind of ``adapters/data/readers``) and writes charts and ``analysis.md``
(``adapters/data/analysis.py``) into ``--out``, by default ``runs/analysis/<root's name>``: never
into the dataset's own folder. Registered under ``reidkit data`` by commands/data.py."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_LAYOUT = "market"
DEFAULT_SAMPLE = 2000


def register(actions: argparse._SubParsersAction) -> None:
    analyze = actions.add_parser(
        "analyze",
        help="charts and a Markdown report of a dataset folder: identities and images per split and per identity, "
        "probe/gallery balance, materials, views, image sizes, train against test",
    )
    analyze.add_argument("--root", type=Path, required=True, help="the dataset folder")
    analyze.add_argument(
        "--layout",
        default=DEFAULT_LAYOUT,
        metavar="KIND",
        help=f"its layout: a data kind of docs/datasets.md, e.g. mvb or market (default: {DEFAULT_LAYOUT})",
    )
    analyze.add_argument("--out", type=Path, help="where the report goes (default: runs/analysis/<root's name>)")
    analyze.add_argument(
        "--sample",
        type=int,
        default=DEFAULT_SAMPLE,
        help=f"image sizes are read from at most this many images per split, drawn with a fixed seed "
        f"(default: {DEFAULT_SAMPLE})",
    )
    analyze.set_defaults(handler=run_analyze)


def run_analyze(args: argparse.Namespace) -> int:
    from reidkit.adapters.data.readers import dataset_reader, reader_names
    from reidkit.domain.errors import ReidkitError, one_line
    from reidkit.entrypoints.commands.common import writable_output

    names = reader_names()
    if args.layout not in names:
        raise ReidkitError(f"--layout {one_line(args.layout)!r} is no dataset layout; the layouts are: {', '.join(names)}")
    if args.sample < 1:
        raise ReidkitError(f"--sample {args.sample} measures no image; give 1 or more")
    root = args.root.expanduser()
    out = args.out if args.out is not None else Path("runs") / "analysis" / (root.resolve().name or "root")
    writable_output(out / "analysis.md", "--out")
    dataset = dataset_reader(args.layout).read(root, domain=root.resolve().name)

    from reidkit.adapters.data.analysis import analyze

    title = f"Analysis of {root.resolve().name or root} ({args.layout} layout)"
    report = analyze(dataset, out, title=title, sample=args.sample)
    print(f"{report.title}\n")
    print(report.summary)
    print(f"\nreport: {report.report}")
    print(f"charts: {', '.join(p.name for p in report.charts)}")
    for line in report.skipped:
        print(f"not drawn: {line}")
    return 0

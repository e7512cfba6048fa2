"""The ``reidkit`` console script: parse, load the profile, build the containers, run.

Nothing happens at import time, so the same command runs single-process or under
``torchrun --nproc-per-node N``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from reidkit.domain.errors import ReidkitError
from reidkit.entrypoints.commands import adapt, data, demo, evaluate, label, train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reidkit", description="Object re-identification toolbox")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (demo, train, adapt, evaluate, label, data):
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ReidkitError as err:
        print(f"reidkit: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("reidkit: interrupted; the latest checkpoint is kept, run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

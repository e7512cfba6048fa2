"""The ``reidkit`` console script: parse, load the profile, build the containers, run.

Nothing happens at import time, so the same command runs single-process or under
``torchrun --nproc-per-node N``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from reidkit.domain.errors import ReidkitError
from reidkit.entrypoints.app import AppHook, no_hook
from reidkit.entrypoints.commands import adapt, data, demo, doctor, evaluate, label, train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reidkit", description="Object re-identification toolbox")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (demo, train, adapt, evaluate, label, data, doctor):
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None, *, hook: AppHook = no_hook) -> int:
    """Runs one ``reidkit`` command. ``hook`` sees every App the command builds before it runs
    (the kill-and-resume harness traces runs with it); it is no part of the command line."""
    args = build_parser().parse_args(argv)
    args.hook = hook
    try:
        return int(args.handler(args))
    except ReidkitError as err:
        print(f"reidkit: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("reidkit: interrupted; the latest checkpoint is kept, run the same command to resume", file=sys.stderr)
        return 130
    except Exception as err:
        message = collective_failure(err)
        if message is None:
            raise
        resumable = args.command in ("train", "adapt", "demo")
        hint = "; rerun the same command to resume from the latest checkpoint" if resumable else ""
        print(f"reidkit: {message}{hint}", file=sys.stderr)
        return 1


def collective_failure(err: Exception) -> str | None:
    """One line for a collective that failed because a peer rank died or hung, else None (and the
    traceback stays, since anything else is a bug worth its full report)."""
    if "torch.distributed" not in sys.modules:  # no process group can have failed
        return None
    from reidkit.adapters.runtime.process_group import collective_failure_message

    rank, world_size = os.environ.get("RANK", "0"), os.environ.get("WORLD_SIZE", "1")
    return collective_failure_message(err, rank=rank, world_size=world_size)


if __name__ == "__main__":
    raise SystemExit(main())

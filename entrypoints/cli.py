"""The ``reidkit`` console script: parse, load the profile, build the containers, run.

Nothing happens at import time, so the same command runs single-process or under
``torchrun --nproc-per-node N``. How a failure ends (its one line and exit code) is
``entrypoints/failures.py``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from reidkit.entrypoints.app import AppHook, no_hook
from reidkit.entrypoints.commands import adapt, data, demo, doctor, evaluate, export, extract, label, train, translate, visrank
from reidkit.entrypoints.failures import Failures


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reidkit", description="Object re-identification toolbox")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (demo, train, adapt, translate, evaluate, extract, visrank, export, label, data, doctor):
        command.register(subparsers)
    # every command (each leaf: `data synth`, not `data`) takes --quiet; the profile commands pass
    # it on as runtime.quiet (commands/common.py profile_from)
    pending = list(subparsers.choices.values())
    while pending:
        command_parser = pending.pop()
        nested = [a for a in command_parser._actions if isinstance(a, argparse._SubParsersAction)]
        if nested:
            pending.extend(choice for action in nested for choice in action.choices.values())
        else:
            command_parser.add_argument(
                "--quiet", action="store_true", help="no progress bars; only warnings and errors on stderr"
            )
    return parser


def main(argv: Sequence[str] | None = None, *, hook: AppHook = no_hook) -> int:
    """Runs one ``reidkit`` command. ``hook`` sees every App the command builds before it runs
    (the kill-and-resume harness traces runs with it); it is no part of the command line.

    Run as the process's own command (``argv`` None: the console script, ``python -m``), a rank of
    a torchrun job that failed exits at once after its line; called with arguments (a test, a
    harness), ``main`` always returns."""
    own_process = argv is None
    args = build_parser().parse_args(argv)
    failures = Failures.of(args.command)
    args.hook = failures.hooked(hook)
    with failures.last_words():
        try:
            code = int(args.handler(args))
        except BaseException as err:
            code = failures.report(err)
            if code is None:
                raise
        if code and failures.distributed and own_process:
            failures.exit_now(code)  # under torchrun: before torchrun's SIGTERM can change the code
        return code


if __name__ == "__main__":
    raise SystemExit(main())

"""``reidkit train``: run a profile's training use-case (resumes from the run folder's checkpoint)."""

from __future__ import annotations

import argparse

from reidkit.domain.errors import ReidkitError
from reidkit.entrypoints.commands.common import add_profile_arguments, profile_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train with a profile (resumes from the latest checkpoint)")
    add_profile_arguments(parser, default="strong_baseline")
    parser.add_argument("--work-dir", help="run folder (default: runs/<profile name>)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from reidkit.entrypoints.containers import build_app

    profile = profile_from(args)
    app = build_app(profile, work_dir=args.work_dir)
    checkpoints = app.run_dir / "checkpoints"
    if not profile.runtime.resume and checkpoints.is_dir() and any(checkpoints.iterdir()):
        raise ReidkitError(
            f"{checkpoints} already holds checkpoints and runtime.resume is false; choose another --work-dir"
        )
    with app:
        app.method.use_case().run()
    return 0

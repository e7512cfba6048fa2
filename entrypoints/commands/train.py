"""``reidkit train``: run a profile's training use-case (resumes from the run folder's checkpoint)."""

from __future__ import annotations

import argparse

from reidkit.entrypoints.commands.common import add_profile_arguments, profile_from, refuse_reuse_without_resume


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train with a profile (resumes from the latest checkpoint)")
    add_profile_arguments(parser, default="strong_baseline")
    parser.add_argument("--work-dir", help="run folder (default: runs/<profile name>)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from reidkit.entrypoints.containers import build_app

    profile = profile_from(args)
    app = build_app(profile, work_dir=args.work_dir)
    refuse_reuse_without_resume(profile, app.run_dir)
    with app:
        app.method.use_case().run()
    return 0

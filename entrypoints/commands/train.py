"""``reidkit train``: run a profile's training use-case (resumes from the run folder's checkpoint)."""

from __future__ import annotations

import argparse

from reidkit.entrypoints.commands.common import (
    add_profile_arguments,
    metrics_table,
    profile_from,
    refuse_reuse_without_resume,
    run_folder,
    train_run,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train with a profile (resumes from the latest checkpoint)")
    add_profile_arguments(parser, default="strong_baseline")
    parser.add_argument("--work-dir", help="run folder (default: runs/<profile name>)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    profile = profile_from(args)
    run_dir = run_folder(profile, args.work_dir)
    refuse_reuse_without_resume(profile, run_dir)
    result = train_run(profile, run_dir, args.hook)
    if result.metrics:
        print()
        print(metrics_table([(f"{profile.name} -> {name}", m) for name, m in result.metrics.items()]))
    print(f"\nrun folder: {run_dir}")
    return 0

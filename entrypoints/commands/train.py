"""``reidkit train``: run a profile's training use-case (resumes from the run folder's checkpoint);
with ``--over``, one run per value of a setting and the mean and spread of their scores."""

from __future__ import annotations

import argparse
import re

from reidkit.entrypoints.commands.common import (
    add_profile_arguments,
    metrics_table,
    over_values,
    print_spread,
    profile_from,
    refuse_reuse_without_resume,
    run_folder,
    spread_by_domain,
    train_run,
    translated_first,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train with a profile (resumes from the latest checkpoint)")
    add_profile_arguments(parser, default="strong_baseline")
    parser.add_argument("--work-dir", help="run folder (default: runs/<profile name>)")
    parser.add_argument(
        "--over",
        metavar="KEY=V1,V2,...",
        help="one run per value of a setting, each in WORK_DIR/KEY=VALUE, then the mean and spread of their last "
        "evaluations: seed=0..2, or a small dataset's repeated splits, data.sets.viper.split_id=0..9",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.over:
        return _runs_over(args)
    profile = profile_from(args)
    run_dir = run_folder(profile, args.work_dir)
    refuse_reuse_without_resume(profile, run_dir)
    profile = translated_first(profile, run_dir, args.hook)
    result = train_run(profile, run_dir, args.hook)
    if result.metrics:
        print()
        print(metrics_table([(f"{profile.name} -> {name}", m) for name, m in result.metrics.items()]))
    print(f"\nrun folder: {run_dir}")
    return 0


def _runs_over(args: argparse.Namespace) -> int:
    variants = over_values(args.over)
    base = list(args.overrides)
    # every variant's profile is checked before the first run starts
    profiles = [profile_from(argparse.Namespace(**{**vars(args), "overrides": [*base, setting]})) for setting in variants]
    root = run_folder(profiles[0], args.work_dir)
    folders = [root / re.sub(r"[^\w.=+-]", "", setting) for setting in variants]
    for profile, folder in zip(profiles, folders, strict=True):
        refuse_reuse_without_resume(profile, folder)
    scored = []
    for profile, folder in zip(profiles, folders, strict=True):
        scored.append(train_run(translated_first(profile, folder, args.hook), folder, args.hook).metrics)
    rows = [(f"{p.name} [{s}] -> {name}", m) for p, s, by_domain in zip(profiles, variants, scored, strict=True) for name, m in by_domain.items()]
    if rows:
        print()
        print(metrics_table(rows))
        print_spread(spread_by_domain(scored, list(scored[0])), len(variants), args.over)
    print(f"\nrun folders: {root}/<setting>")
    return 0

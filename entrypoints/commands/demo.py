"""``reidkit demo``: the main job on the embedded data.

Generates (or reuses) the demo data, scores an untrained encoder as the baseline, trains the
strong supervised baseline on ``source``, and reports ``source`` (learned) and ``target`` (direct
transfer: the domain gap later adaptation methods close).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from pathlib import Path

from reidkit.domain.types import RetrievalMetrics
from reidkit.entrypoints.commands.common import add_profile_arguments, metrics_table, profile_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="train and evaluate the strong baseline on the embedded data")
    add_profile_arguments(parser, default="demo")
    parser.add_argument("--work-dir", help="run folder (default: runs/demo/<timestamp>)")
    parser.set_defaults(handler=run)


def last_evaluations(run_dir: Path) -> dict[str, RetrievalMetrics]:
    entries = json.loads((run_dir / "metrics.json").read_text())["evaluations"]
    latest = {}
    for entry in entries:
        fields = {k: entry[k] for k in ("mAP", "mINP", "cmc", "num_queries", "num_valid_queries")}
        latest[entry["domain"]] = RetrievalMetrics(**fields)
    return latest


def run(args: argparse.Namespace) -> int:
    from reidkit.entrypoints.containers import build_app

    profile = profile_from(args)
    work_dir = args.work_dir or f"runs/demo/{datetime.now():%Y%m%d-%H%M%S}"
    started = time.perf_counter()
    with build_app(profile, work_dir=work_dir) as app:
        domains = app.core.domains()
        for name, dataset in domains.items():
            print(f"data {name}: " + ", ".join(f"{k}={v}" for k, v in dataset.summary().items()))
        untrained = {name: evaluation.run() for name, evaluation in app.method.evaluations().items()}
        app.method.use_case().run()
        trained = last_evaluations(app.run_dir)
    source = profile.train.domain
    rows = [(f"untrained encoder -> {name}", m) for name, m in untrained.items()]
    rows += [
        (f"trained on {source} -> {name}" + (" (direct transfer)" if name != source else ""), m)
        for name, m in trained.items()
    ]
    print()
    print(metrics_table(rows))
    print(f"\nrun folder: {app.run_dir} (checkpoints/, events/, log.jsonl, metrics.json)")
    print(f"total time: {time.perf_counter() - started:.0f} s")
    return 0

"""``reidkit adapt``: learn from pseudo labels on an unlabelled domain with a method's profile.

A profile that starts from a source model and names none first trains ``adapt.pretrain_profile``
on the source (in ``<run>/pretrain``, resumed like any run): that run's target score is the
direct-transfer baseline the adaptation is measured against.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import attrs

from reidkit.domain.errors import ReidkitError
from reidkit.domain.types import RetrievalMetrics
from reidkit.entrypoints.commands.common import add_profile_arguments, metrics_table, profile_from
from reidkit.entrypoints.settings import Profile, load_profile


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "adapt", help="adapt to an unlabelled domain (strong baseline, UDA_TP, SpCL, Cluster Contrast)"
    )
    add_profile_arguments(parser, default="strong_baseline_uda")
    parser.add_argument("--work-dir", help="run folder (default: runs/<profile name>)")
    parser.set_defaults(handler=run)


def last_evaluations(run_dir: Path) -> dict[str, RetrievalMetrics]:
    """The last evaluation of each domain recorded in a run folder's metrics.json."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        return {}
    latest = {}
    for entry in json.loads(path.read_text())["evaluations"]:
        fields = {k: entry[k] for k in ("mAP", "mINP", "cmc", "num_queries", "num_valid_queries")}
        latest[entry["domain"]] = RetrievalMetrics(**fields)
    return latest


def pretrain_profile(profile: Profile) -> Profile:
    """The source pre-training of ``profile``: its supervised profile on the same data and seed."""
    base = load_profile(profile.adapt.pretrain_profile)
    if base.method != "supervised":
        raise ReidkitError(
            f"adapt.pretrain_profile '{profile.adapt.pretrain_profile}' is a {base.method} profile; it must be supervised"
        )
    return attrs.evolve(
        base,
        name=f"{profile.name}-pretrain",
        seed=profile.seed,
        data=profile.data,
        runtime=attrs.evolve(profile.runtime, work_dir=""),
    )


def train_source_model(profile: Profile, run_dir: Path) -> Path:
    from reidkit.entrypoints.containers import build_app

    pretrain_dir = run_dir / "pretrain"
    with build_app(pretrain_profile(profile), work_dir=str(pretrain_dir)) as app:
        app.method.use_case().run()
    return pretrain_dir / "checkpoints" / "best.pt"


def run(args: argparse.Namespace) -> int:
    from reidkit.entrypoints.containers import build_app

    profile = profile_from(args)
    if profile.method == "supervised":
        raise ReidkitError(f"profile '{profile.name}' is supervised: run it with `reidkit train`")
    run_dir = Path(args.work_dir or profile.runtime.work_dir or f"runs/{profile.name}")
    started = time.perf_counter()
    rows: list[tuple[str, RetrievalMetrics]] = []
    if profile.adapt.start_from == "source_model" and not profile.adapt.source_model:
        source_model = train_source_model(profile, run_dir)
        for name, metrics in last_evaluations(run_dir / "pretrain").items():
            rows.append((f"source model -> {name}" + (" (direct transfer)" if name == profile.train.domain else ""), metrics))
        profile = attrs.evolve(profile, adapt=attrs.evolve(profile.adapt, source_model=str(source_model)))
    with build_app(profile, work_dir=str(run_dir)) as app:
        app.method.use_case().run()
    rows += [(f"{profile.name} -> {name}", m) for name, m in last_evaluations(run_dir).items()]
    print()
    print(metrics_table(rows))
    print(f"\nrun folder: {run_dir} (metrics.json has the pseudo-label statistics of every epoch)")
    print(f"total time: {time.perf_counter() - started:.0f} s")
    return 0

"""``reidkit adapt``: learn from pseudo labels on an unlabelled domain with a method's profile.

A profile whose starting model is not given first trains ``adapt.pretrain_profile`` (in
``<run>/pretrain``, resumed like any run): for UDA the source model (its target score is the
direct-transfer baseline), for USL the generic backbone standing in for ImageNet weights.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import attrs

from reidkit.domain.errors import ReidkitError
from reidkit.domain.types import RetrievalMetrics
from reidkit.entrypoints.commands.common import (
    add_profile_arguments,
    metrics_table,
    profile_from,
    refuse_reuse_without_resume,
)
from reidkit.entrypoints.settings import Profile, load_profile


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "adapt", help="adapt to an unlabelled domain (strong baseline, UDA_TP, SpCL, Cluster Contrast, MMT)"
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


def pretrain_profile(profile: Profile, seed_offset: int = 0) -> Profile:
    """The pre-training of ``profile``: its supervised profile on the same data and seed (plus
    ``seed_offset``), also scored on the adaptation's target (after its own domains, so model
    selection never sees it)."""
    base = load_profile(profile.adapt.pretrain_profile)
    if base.method != "supervised":
        raise ReidkitError(
            f"adapt.pretrain_profile '{profile.adapt.pretrain_profile}' is a {base.method} profile; it must be supervised"
        )
    domains = [*base.eval.domains, *([profile.train.domain] if profile.train.domain not in base.eval.domains else [])]
    return attrs.evolve(
        base,
        name=f"{profile.name}-pretrain",
        seed=profile.seed + seed_offset,
        data=profile.data,
        eval=attrs.evolve(base.eval, domains=domains),
        runtime=attrs.evolve(profile.runtime, work_dir=""),
    )


def train_starting_model(profile: Profile, run_dir: Path, folder: str = "pretrain", seed_offset: int = 0) -> Path:
    """Runs the pre-training profile in ``run_dir/folder`` and returns its best checkpoint."""
    from reidkit.entrypoints.containers import build_app

    pretrain_dir = run_dir / folder
    with build_app(pretrain_profile(profile, seed_offset), work_dir=str(pretrain_dir)) as app:
        app.method.use_case().run()
    return pretrain_dir / "checkpoints" / "best.pt"


def with_starting_model(profile: Profile, run_dir: Path) -> tuple[Profile, str]:
    """``profile`` with its starting model filled in (pre-training first when it names none), and
    what to call that model in the results."""
    adapt, peer = profile.adapt, profile.mean_teach
    if peer.peer_start == "second_pretraining" and not peer.peer_source_model:
        # MMT's second student starts from a source model of its own: same recipe, seed + 1.
        best = train_starting_model(profile, run_dir, "pretrain_peer", seed_offset=1)
        profile = attrs.evolve(profile, mean_teach=attrs.evolve(peer, peer_source_model=str(best)))
    if adapt.start_from == "source_model" and not adapt.source_model:
        best = train_starting_model(profile, run_dir)
        return attrs.evolve(profile, adapt=attrs.evolve(adapt, source_model=str(best))), "source model"
    if adapt.start_from == "pretrained" and not profile.model.pretrained:
        from reidkit.adapters.models.heads import export_trunk

        backbone = export_trunk(train_starting_model(profile, run_dir), run_dir / "pretrain" / "backbone.pt")
        return attrs.evolve(profile, model=attrs.evolve(profile.model, pretrained=str(backbone))), "generic backbone"
    return profile, ""


def run(args: argparse.Namespace) -> int:
    from reidkit.entrypoints.containers import build_app

    profile = profile_from(args)
    if profile.method == "supervised":
        raise ReidkitError(f"profile '{profile.name}' is supervised: run it with `reidkit train`")
    run_dir = Path(args.work_dir or profile.runtime.work_dir or f"runs/{profile.name}")
    refuse_reuse_without_resume(profile, run_dir)
    started = time.perf_counter()
    rows: list[tuple[str, RetrievalMetrics]] = []
    profile, start = with_starting_model(profile, run_dir)
    if start:
        transfer = " (direct transfer)" if start == "source model" else ""
        for name, metrics in last_evaluations(run_dir / "pretrain").items():
            rows.append((f"{start} -> {name}" + (transfer if name == profile.train.domain else ""), metrics))
    with build_app(profile, work_dir=str(run_dir)) as app:
        app.method.use_case().run()
    rows += [(f"{profile.name} -> {name}", m) for name, m in last_evaluations(run_dir).items()]
    print()
    print(metrics_table(rows))
    print(f"\nrun folder: {run_dir} (metrics.json has the pseudo-label statistics of every epoch)")
    print(f"total time: {time.perf_counter() - started:.0f} s")
    return 0

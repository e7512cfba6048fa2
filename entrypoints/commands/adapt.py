"""``reidkit adapt``: learn from pseudo labels on an unlabelled domain with a method's profile.

A starting model the profile does not name is trained first, each in its own folder of the run
(resumed like any run): the source model of UDA (its target score is the direct-transfer
baseline), MMT's second source model, or, for USL, the generic backbone standing in for ImageNet
weights. ``AdaptFromStart`` (application/pipelines.py) sequences them.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from pathlib import Path

import attrs

from reidkit.application.pipelines import AdaptFromStart
from reidkit.domain.errors import ReidkitError
from reidkit.domain.types import RetrievalMetrics, RunResult
from reidkit.entrypoints.commands.common import (
    add_profile_arguments,
    metrics_table,
    profile_from,
    refuse_reuse_without_resume,
    run_folder,
    train_run,
    translated_first,
)
from reidkit.entrypoints.app import AppHook
from reidkit.entrypoints.methods import StartingModel
from reidkit.entrypoints.settings import Profile, load_profile, unstructure_profile


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "adapt", help="adapt to an unlabelled domain (strong baseline, UDA_TP, SpCL, Cluster Contrast, MMT)"
    )
    add_profile_arguments(parser, default="strong_baseline_uda")
    parser.add_argument("--work-dir", help="run folder (default: runs/<profile name>)")
    parser.set_defaults(handler=run)


def pretrain_profile(profile: Profile, start: StartingModel) -> Profile:
    """The run that makes ``start``: ``adapt.pretrain_profile`` on the same data (so the embedded
    scale fits the same preset), seed + ``start.seed_offset``, also scored on the adaptation's
    target (after its own domains, so model selection never sees it). A whole source model has
    the adaptation's architecture, so that it loads into it."""
    plain = unstructure_profile(profile)
    base = load_profile(
        profile.adapt.pretrain_profile, settings={"data": plain["data"], "seed": profile.seed + start.seed_offset}
    )
    if base.method != "supervised":
        raise ReidkitError(
            f"adapt.pretrain_profile '{profile.adapt.pretrain_profile}' is a {base.method} profile; it must be supervised"
        )
    target = profile.train.domain
    domains = [*base.eval.domains, *([target] if target not in base.eval.domains else [])]
    model = attrs.evolve(base.model, backbone=profile.model.backbone)
    if not start.trunk:
        model = attrs.evolve(profile.model, dsbn=False, pretrained=profile.model.pretrained)
    return attrs.evolve(
        base,
        name=f"{profile.name}-{start.folder}",
        data=profile.data,
        model=model,
        eval=attrs.evolve(base.eval, domains=domains),
        runtime=attrs.evolve(profile.runtime, work_dir=""),
        translated=profile.translated,  # a source model of a translated source trains on the translation
    )


def pretraining(profile: Profile, run_dir: Path, start: StartingModel, hook: AppHook) -> RunResult:
    """Trains ``start`` in ``run_dir / start.folder``; a trunk is exported beside its checkpoints."""
    folder = run_dir / start.folder
    result = train_run(pretrain_profile(profile, start), folder, hook)
    if not start.trunk:
        return result
    from reidkit.adapters.models.heads import export_trunk

    return attrs.evolve(result, model=str(export_trunk(result.model, folder / "backbone.pt")))


def run(args: argparse.Namespace) -> int:
    from reidkit.entrypoints.app import setting_of, starting_models, with_setting

    profile = profile_from(args)
    if profile.method == "supervised":
        raise ReidkitError(f"profile '{profile.name}' is supervised: run it with `reidkit train`")
    run_dir = run_folder(profile, args.work_dir)
    refuse_reuse_without_resume(profile, run_dir)
    started = time.perf_counter()
    profile = translated_first(profile, run_dir, args.hook)
    missing = [start for start in starting_models(profile) if not setting_of(profile, start.setting)]

    def adapt(models: Mapping[str, str]) -> RunResult:
        resolved = profile
        for setting, path in models.items():
            resolved = with_setting(resolved, setting, path)
        return train_run(resolved, run_dir, args.hook)

    pipeline = AdaptFromStart(
        starting={start.setting: _bind(pretraining, profile, run_dir, start, args.hook) for start in missing},
        adapt=adapt,
    )
    made, adapted = pipeline.run()
    rows: list[tuple[str, RetrievalMetrics]] = []
    for start in missing:
        transfer = " (direct transfer)" if not start.trunk else ""
        for name, metrics in made[start.setting].metrics.items():
            rows.append((f"{start.label} -> {name}" + (transfer if name == profile.train.domain else ""), metrics))
    rows += [(f"{profile.name} -> {name}", m) for name, m in adapted.metrics.items()]
    print()
    print(metrics_table(rows) if rows else "no evaluation: no domain of eval.domains has a query and a gallery")
    print(f"\nrun folder: {run_dir} (metrics.json has the pseudo-label statistics of every epoch)")
    print(f"total time: {time.perf_counter() - started:.0f} s")
    return 0


def _bind(function, *arguments):  # noqa: ANN001, ANN202 - a stage of the pipeline
    return lambda: function(*arguments)

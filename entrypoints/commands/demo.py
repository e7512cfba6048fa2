"""``reidkit demo``: the main job on the embedded data.

Generates (or reuses) the demo data, scores an untrained encoder as the baseline, trains the
strong supervised baseline on ``source``, and reports ``source`` (learned) and ``target`` (direct
transfer: the domain gap adaptation closes). The second stage adapts that model to the unlabelled
``target`` with one UDA profile, shortened to ``DEMO_EPOCHS`` epochs to fit the demo's time budget
(``--full``: every UDA profile on its own schedule), and prints the gain. On a CPU with native
bfloat16 both stages train under bf16 autocast (``--fp32`` turns it off). The stages are the
``Demo`` pipeline of application/pipelines.py.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import attrs

from reidkit.application.pipelines import Demo
from reidkit.domain.errors import ReidkitError
from reidkit.domain.types import RetrievalMetrics, RunResult
from reidkit.entrypoints.app import AppHook
from reidkit.entrypoints.commands.common import add_profile_arguments, metrics_table, profile_from, train_run
from reidkit.entrypoints.settings import Profile, load_profile

UDA_PROFILES = ("strong_baseline_uda", "uda_tp", "cluster_contrast_uda", "spcl_uda")
DEFAULT_ADAPTATION = "strong_baseline_uda"
DEMO_EPOCHS = 4  # the default second stage; the profiles run 10 on the embedded data


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="train and evaluate the strong baseline on the embedded data")
    add_profile_arguments(parser, default="strong_baseline")
    parser.add_argument("--work-dir", help="run folder (default: runs/demo/<timestamp>)")
    parser.add_argument(
        "--adapt-profile", default=DEFAULT_ADAPTATION, help=f"UDA profile of the second stage (default {DEFAULT_ADAPTATION})"
    )
    parser.add_argument("--full", action="store_true", help=f"second stage with every UDA profile: {', '.join(UDA_PROFILES)}")
    parser.add_argument(
        "--adapt-set", dest="adapt_overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override a setting of the second stage's profile; repeatable",
    )  # fmt: skip
    parser.add_argument("--no-adapt", action="store_true", help="stop after direct transfer")
    parser.add_argument(
        "--fp32", action="store_true",
        help="train in float32 even on a CPU with native bfloat16 (by default the demo trains in bf16 there, about twice as fast)",
    )  # fmt: skip
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Every profile of both stages is checked before torch is imported (a few seconds), and before
    # the first stage's training rather than after it.
    profile = profile_from(args)
    names = () if args.no_adapt else (UDA_PROFILES if args.full else (args.adapt_profile,))
    for name in names:
        adaptation_profile(name, profile, "(the first stage's model)", [*demo_schedule(name), *args.adapt_overrides])
    precision = demo_precision(args)
    if precision:
        args.overrides = [*precision, *args.overrides]
        profile = profile_from(args)
    if precision:
        print("training in bfloat16 autocast: this CPU has native bf16 (--fp32 to turn it off)")
    run_dir = Path(args.work_dir or f"runs/demo/{datetime.now():%Y%m%d-%H%M%S}")
    started = time.perf_counter()

    def adaptation(name: str):  # noqa: ANN202 - a stage of the pipeline
        schedule = [] if args.full else demo_schedule(name)
        overrides = [*precision, *schedule, *args.adapt_overrides]

        def adapt(source_model: str) -> RunResult:
            if schedule:
                print(f"\nsecond stage: {name} shortened to {DEMO_EPOCHS} epochs (--full: the profiles' own schedules)")
            return adapt_stage(name, profile, source_model, run_dir / name, overrides, args.hook)

        return adapt

    demo = Demo(train=lambda: score_and_train(profile, run_dir, args.hook), adaptations={n: adaptation(n) for n in names})
    result = demo.run()
    source = profile.train.domain
    rows = [(f"untrained encoder -> {name}", m) for name, m in result.untrained.items()]
    rows += [
        (f"trained on {source} -> {name}" + (" (direct transfer)" if name != source else ""), m)
        for name, m in result.trained.metrics.items()
    ]
    for name, adapted in result.adapted.items():
        target = adapted.metrics[demo.target]
        rows.append((f"{name} on unlabelled target ({100 * result.gain(name, demo.target):+.1f} mAP)", target))
    print()
    print(metrics_table(rows))
    print(f"\nrun folder: {run_dir} (checkpoints/, events/, log.jsonl, metrics.json, profile.toml)")
    print(f"total time: {time.perf_counter() - started:.0f} s")
    return 0


def score_and_train(profile: Profile, run_dir: Path, hook: AppHook) -> tuple[Mapping[str, RetrievalMetrics], RunResult]:
    """The untrained encoder's scores, then the supervised run's result, in one run folder."""
    from reidkit.entrypoints.app import build_app

    with build_app(profile, work_dir=str(run_dir), hook=hook) as app:
        for name, dataset in app.container.data.domains().items():
            print(f"data {name}: " + ", ".join(f"{k}={v}" for k, v in dataset.summary().items()))
        untrained = {name: evaluation.run() for name, evaluation in app.container.evaluations().items()}
        progress = app.run()
    return untrained, RunResult(metrics=progress.last_metrics, model=str(run_dir / "checkpoints" / "best.pt"))


def demo_precision(args: argparse.Namespace) -> list[str]:
    """bf16 autocast for both stages where the CPU has it in hardware and the run is on the CPU:
    it keeps the demo within its time budget on such machines (overrides given on the command line win)."""
    from reidkit.adapters.steps.precision import cpu_has_native_bf16

    import torch

    if args.fp32 or not cpu_has_native_bf16():
        return []
    device = load_profile(args.profile, args.overrides).runtime.device
    on_cpu = device == "cpu" or (device == "auto" and not torch.cuda.is_available())
    return ["train.amp='on'", "train.amp_dtype='bf16'"] if on_cpu else []


def demo_schedule(name: str, overrides: list[str] | None = None) -> list[str]:
    """``DEMO_EPOCHS`` epochs; a profile whose learning rate drops before its end (with
    ``overrides``) drops it for the last epoch here, as the full schedules end on a lower rate."""
    profile = load_profile(name, overrides or [])
    if profile.train.epochs <= DEMO_EPOCHS:
        return []
    shortened = [f"train.epochs={DEMO_EPOCHS}"]
    milestones = getattr(profile.scheduler, "milestones", ())
    if any(m < profile.train.epochs for m in milestones):
        shortened.append(f"scheduler.milestones=[{DEMO_EPOCHS - 1}]")
    return shortened


def adapt_stage(name: str, demo: Profile, source_model: str, run_dir: Path, overrides: list[str], hook: AppHook) -> RunResult:
    """Adapts the demo's source model to the target with the UDA profile ``name``."""
    return train_run(adaptation_profile(name, demo, source_model, overrides), run_dir, hook)


def adaptation_profile(name: str, demo: Profile, source_model: str, overrides: list[str]) -> Profile:
    """The second stage's profile: the UDA profile ``name`` on the demo's data, from ``source_model``."""
    from reidkit.entrypoints.app import checked_options
    from reidkit.entrypoints.methods import method_spec

    profile = load_profile(
        name, [f"seed={demo.seed}", f"adapt.source_model='{source_model}'", *overrides], settings={"data": _plain_data(demo)}
    )
    profile = attrs.evolve(profile, runtime=attrs.evolve(demo.runtime, work_dir=""))
    if profile.adapt.start_from != "source_model":
        raise ReidkitError(f"--adapt-profile {name} does not start from a source model; pick one of {', '.join(UDA_PROFILES)}")
    checked_options(profile, method_spec(profile.method))
    return profile


def _plain_data(profile: Profile) -> dict:
    from reidkit.entrypoints.settings import unstructure_profile

    return unstructure_profile(profile)["data"]

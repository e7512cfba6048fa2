"""Pieces the subcommands share: profile arguments, running one training run, result tables."""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from reidkit.domain.errors import ReidkitError
from reidkit.domain.types import RetrievalMetrics, RunResult
from reidkit.entrypoints.app import AppHook
from reidkit.entrypoints.settings import Profile, available_profiles, load_profile


def add_profile_arguments(parser: argparse.ArgumentParser, default: str | None) -> None:
    parser.add_argument(
        "--profile",
        default=default,
        help=f"profile name ({', '.join(available_profiles())}) or path to a TOML file (a run folder's profile.toml too)",
    )
    add_overrides(parser, "override a profile setting (value parsed as TOML); repeatable")


def add_overrides(parser: argparse.ArgumentParser, help: str, metavar: str = "SECTION.KEY=VALUE") -> None:
    """``--set KEY=VALUE``, repeatable, into ``args.overrides``."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar=metavar, help=help)


def profile_from(args: argparse.Namespace) -> Profile:
    """The profile the command line asks for, with its method's own table checked too: every
    profile error is reported before torch is imported."""
    from reidkit.entrypoints.app import checked_options
    from reidkit.entrypoints.methods import method_spec

    quiet = ["runtime.quiet=true"] if getattr(args, "quiet", False) else []
    profile = load_profile(args.profile, [*args.overrides, *quiet])
    checked_options(profile, method_spec(profile.method))
    return profile


def refuse_reuse_without_resume(profile: Profile, run_dir: Path) -> None:
    """``runtime.resume = false`` promises a fresh run: a folder with checkpoints is refused."""
    checkpoints = run_dir / "checkpoints"
    if not profile.runtime.resume and checkpoints.is_dir() and any(checkpoints.iterdir()):
        raise ReidkitError(
            f"{checkpoints} already holds checkpoints and runtime.resume is false; choose another --work-dir"
        )


def writable_output(path: Path, option: str) -> Path:
    """Checks, before any work, that ``path`` (given as ``option``) can be written: its folder
    exists or can be made, files can be created in it, and ``path`` is not a folder."""
    if path.is_dir():
        raise ReidkitError(f"{option} {path} is a folder; give a file name")
    folder = path.parent
    existing = next((f for f in (folder, *folder.parents) if f.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ReidkitError(f"{option} {path} cannot be written: {existing} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=f".{path.name}."):
            pass
    except OSError as err:
        raise ReidkitError(f"{option} {path} cannot be written: {err.strerror or err}") from None
    return path


def write_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Calls ``write`` on a temporary file beside ``path``, then renames it over ``path``: a failed
    write (a full disk) leaves whatever was there before, never half a file."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def run_folder(profile: Profile, work_dir: str | None) -> Path:
    return Path(work_dir or profile.runtime.work_dir or f"runs/{profile.name}")


TRANSLATION_FOLDER = "translation"


def translated_first(profile: Profile, run_dir: Path, hook: AppHook) -> Profile:
    """``profile`` with ``translated.root`` filled in: when it names a domain to read as its
    translation and no rendering, ``translated.profile`` runs first in ``run_dir/translation`` on
    the same data, seed and precision (resumed, or reused when finished, like any run). An adaptation's
    translation takes the style of the domain it adapts to."""
    import attrs

    from reidkit.entrypoints.app import with_setting
    from reidkit.entrypoints.methods.translate import TRANSLATED_DIR
    from reidkit.entrypoints.settings import unstructure_profile

    wanted = profile.translated
    if not wanted.domain or wanted.root:
        return profile
    plain = unstructure_profile(profile)
    # the same data, seed and precision as the run that reads it
    train = {"domain": wanted.domain, "amp": profile.train.amp, "amp_dtype": profile.train.amp_dtype}
    settings: dict = {"data": plain["data"], "seed": profile.seed, "train": train}
    if profile.train.domain != wanted.domain:
        settings["translate"] = {"target": profile.train.domain}
    translation = load_profile(wanted.profile, settings=settings)
    if translation.method != "translate":
        raise ReidkitError(f"translated.profile '{wanted.profile}' is a {translation.method} profile; it must be a translate profile (cyclegan, spgan)")
    translation = attrs.evolve(translation, runtime=attrs.evolve(profile.runtime, work_dir=""))
    folder = run_dir / TRANSLATION_FOLDER
    train_run(translation, folder, hook)
    return with_setting(profile, "translated.root", str(folder / TRANSLATED_DIR))


def train_run(profile: Profile, run_dir: Path, hook: AppHook) -> RunResult:
    """Runs ``profile`` in ``run_dir`` (resuming from its checkpoints) and returns what it left."""
    from reidkit.entrypoints.app import build_app

    with build_app(profile, work_dir=str(run_dir), hook=hook) as app:
        progress = app.run()
    return RunResult(metrics=progress.last_metrics, model=str(run_dir / "checkpoints" / "best.pt"))


def metrics_table(rows: Sequence[tuple[str, RetrievalMetrics]]) -> str:
    width = max(len(name) for name, _ in rows)
    head = f"{'':<{width}}  {'mAP':>6}  {'R1':>6}  {'R5':>6}  {'R10':>6}  {'mINP':>6}  queries"
    lines = [head, "-" * len(head)]
    for name, m in rows:
        lines.append(
            f"{name:<{width}}  {100 * m.mAP:6.2f}  {100 * m.rank(1):6.2f}  {100 * m.rank(5):6.2f}  "
            f"{100 * m.rank(10):6.2f}  {100 * m.mINP:6.2f}  {m.num_valid_queries}/{m.num_queries}"
        )
    return "\n".join(lines)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """``--run`` (a run folder), ``--checkpoint`` and ``--set`` over the run's profile, ``--device``."""
    parser.add_argument("--run", type=Path, help="a reidkit train/adapt run folder (holds profile.toml and checkpoints/)")
    parser.add_argument(
        "--checkpoint", default="best", help="best (the run's selected model, default), latest, or a checkpoint file"
    )
    add_overrides(parser, "override a setting of the run's profile, e.g. data.roots.market=/data/Market-1501; repeatable")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    parser.add_argument("--batch-size", type=int, help="images per forward pass (default: the profile's eval.batch_size)")


def trained_run_from(args: argparse.Namespace):  # noqa: ANN201 - a TrainedRun (imports nothing heavy)
    """The run the command line names, checked before torch is imported."""
    from reidkit.entrypoints.trained import open_run

    if args.run is None:
        raise ReidkitError("--run RUN is required: the folder of a reidkit train or adapt run")
    if args.batch_size is not None and args.batch_size < 1:
        raise ReidkitError(f"--batch-size must be at least 1, got {args.batch_size}")
    return open_run(args.run, args.checkpoint, args.overrides)


def chosen_domains(run, names: Sequence[str] | None) -> list[str]:  # noqa: ANN001 - a TrainedRun
    """``names``, or the run's evaluation domains."""
    return list(names) if names else list(run.profile.eval.domains)


def over_values(text: str) -> list[str]:
    """``KEY=V1,V2,...`` (or ``KEY=a..b``, integers, both ends included) as ``--set`` items."""
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise ReidkitError(f"--over expects KEY=V1,V2,... or KEY=a..b, got {text!r}")
    first, dots, last = values.partition("..")
    if dots:
        try:
            low, high = int(first), int(last)
        except ValueError:
            raise ReidkitError(f"--over {text}: a range a..b takes integers") from None
        if high < low:
            raise ReidkitError(f"--over {text}: the range is empty")
        return [f"{key}={value}" for value in range(low, high + 1)]
    return [f"{key}={value.strip()}" for value in values.split(",") if value.strip()]


def spread_by_domain(
    scored: Sequence[Mapping[str, RetrievalMetrics]], names: Sequence[str]
) -> dict[str, dict[str, tuple[float, float]]]:
    """Per domain, the mean and sample standard deviation of mAP, rank-1 and mINP over runs."""
    import statistics

    spread = {}
    for name in names:
        scores = [by_domain[name] for by_domain in scored if name in by_domain]
        columns = {"mAP": [m.mAP for m in scores], "R1": [m.rank(1) for m in scores], "mINP": [m.mINP for m in scores]}
        spread[name] = {k: (statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else 0.0) for k, v in columns.items()}
    return spread


def print_spread(spread: Mapping[str, Mapping[str, tuple[float, float]]], count: int, over: str | None) -> None:
    setting = (over or "").partition("=")[0]
    for name, summary in spread.items():
        shown = ", ".join(f"{key} {100 * mean:.2f} ± {100 * std:.2f}" for key, (mean, std) in summary.items())
        print(f"{name} over {count} values of {setting}: {shown}")

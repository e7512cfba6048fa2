"""Building a run: a profile becomes its method's container, in plain Python.

``build_app(profile)`` checks the method's own table with the method's settings class, refuses a
run that lacks a starting model it needs, and feeds the resolved profile to the method's
container. Entering the App starts the process runtime (threads, logging, seeds, device, process
group) and writes the resolved profile to the run folder; ``run()`` runs the use-case.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import structlog

from reidkit.domain.errors import ProfileError
from reidkit.domain.types import TrainingProgress
from reidkit.entrypoints.methods import MethodSpec, StartingModel, method_spec
from reidkit.entrypoints.settings import (
    Profile,
    profile_toml,
    structure_options,
    structure_profile,
    unstructure_options,
    unstructure_profile,
)

PROFILE_FILE = "profile.toml"

_BASE_STARTS = {
    "source_model": StartingModel(
        setting="adapt.source_model", reason="adapt.start_from = 'source_model'", folder="pretrain", label="source model"
    ),
    "pretrained": StartingModel(
        setting="model.pretrained",
        reason="adapt.start_from = 'pretrained'",
        folder="pretrain",
        label="generic backbone",
        trunk=True,
    ),
}


def starting_models(profile: Profile) -> tuple[StartingModel, ...]:
    """Every model ``profile`` starts from that a pre-training run can make: its own start
    (a source model for UDA, a backbone for USL) and the method's extras (MMT's peer)."""
    if profile.method == "supervised":
        return ()
    spec = method_spec(profile.method)
    base = _BASE_STARTS.get(profile.adapt.start_from)
    return (*((base,) if base is not None else ()), *spec.starting_models(checked_options(profile, spec)))


def setting_of(profile: Profile, key: str) -> Any:
    table: Any = unstructure_profile(profile)
    for part in key.split("."):
        table = table.get(part, "") if isinstance(table, dict) else ""
    return table


def with_setting(profile: Profile, key: str, value: Any) -> Profile:
    """``profile`` with the ``section.key`` setting ``key`` (a method's table included) changed."""
    plain = unstructure_profile(profile)
    *parents, leaf = key.split(".")
    table = plain
    for part in parents:
        table = table.setdefault(part, {})
    table[leaf] = value
    return structure_profile(plain)


def checked_options(profile: Profile, spec: MethodSpec) -> Any:
    """The method's own table, checked (a method without one refuses any), then the method's
    profile-wide checks."""
    if spec.options is None:
        if profile.method_options:
            raise ProfileError(f"method {spec.name!r} has no settings table; found [{spec.name}] @ profile")
        options = None
    else:
        options = structure_options(profile, spec.options)
    try:
        spec.check(profile, options)
    except ValueError as exc:
        raise ProfileError(f"{exc} @ profile") from None
    return options


class App:
    """A built run: the resolved profile, its run folder and its method's container."""

    def __init__(self, profile: Profile, *, work_dir: str | None = None) -> None:
        # told of a failure leaving the run before the teardown (the CLI prints its line then)
        self.on_failure: Callable[[BaseException], object] = _ignore
        spec = method_spec(profile.method)
        options = checked_options(profile, spec)
        for start in starting_models(profile):
            if not setting_of(profile, start.setting):
                raise ProfileError(start.missing_message())
        if profile.translated.domain and not profile.translated.root:
            raise ProfileError(
                f"translated.domain = '{profile.translated.domain}' needs translated.root (`reidkit train` and "
                "`reidkit adapt` run translated.profile first when it is empty)"
            )
        folder = work_dir or profile.runtime.work_dir or f"runs/{profile.name}"
        self.profile = attrs.evolve(
            profile,
            runtime=attrs.evolve(profile.runtime, work_dir=folder),
            method_options=unstructure_options(options) if options is not None else {},
        )
        self.spec = spec
        self.run_dir = Path(folder)
        self.container = spec.container()()
        self.container.config.from_dict(unstructure_profile(self.profile))

    def __enter__(self) -> App:
        self.container.training.process.init()
        try:
            if self.container.training.group().is_main:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                (self.run_dir / PROFILE_FILE).write_text(profile_toml(self.profile))
        except BaseException:
            self.container.training.process.shutdown()
            raise
        if self.profile.scaled:
            structlog.get_logger("reidkit").info(
                "embedded data scale applied", preset=self.profile.data.preset, profile=str(self.run_dir / PROFILE_FILE)
            )
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, traceback: object) -> None:
        """Reports a failure first (the teardown may take a while, and under torchrun this rank
        may be stopped during it), then shuts the process runtime down; after a collective timed
        out, also stops the hung peers of this launcher (see ``stop_stalled_peers``)."""
        if exc is not None:
            self.on_failure(exc)
        runtime = self.container.training.process()
        try:
            if exc is None:
                runtime.leave_together()
        finally:
            self.container.training.process.shutdown()
        if exc is not None and runtime.peers:
            from reidkit.adapters.runtime.process_group import is_collective_timeout, stop_stalled_peers

            if is_collective_timeout(exc):
                stop_stalled_peers(runtime.peers, rank=runtime.rank)

    def run(self) -> TrainingProgress:
        return self.container.use_case().run()


AppHook = Callable[[App], None]


def _ignore(failure: BaseException) -> None:
    return None


def no_hook(app: App) -> None:
    """What most callers pass for the App hook: nothing to change."""
    return None


def build_app(profile: Profile, *, work_dir: str | None = None, hook: AppHook = no_hook) -> App:
    """The App for ``profile``; ``hook`` may override its providers before anything is built (a
    test, or the kill-and-resume harness tracing a run)."""
    app = App(profile, work_dir=work_dir)
    hook(app)
    return app

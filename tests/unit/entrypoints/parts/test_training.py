"""The training runtime resolves ``[input] num_workers`` for the run's device once, and every
loader of the run (training batches, feature extraction) gets the same options."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from dependency_injector import providers

from reidkit.adapters.data.loading import LoaderOptions
from reidkit.entrypoints.app import build_app
from reidkit.entrypoints.runtime import ProcessRuntime
from reidkit.entrypoints.settings import load_profile
from tests.support.tiny import tiny_overrides


def _app(tiny_data: Path, tmp_path: Path, device: str, *extra: str):  # noqa: ANN202 - an App
    profile = load_profile("strong_baseline", tiny_overrides(tiny_data, "eval.domains=['source']", *extra))
    app = build_app(profile, work_dir=str(tmp_path))
    process = ProcessRuntime(device=torch.device(device), rank=0, world_size=1, run_dir=tmp_path)
    app.container.training.process.override(providers.Object(process))
    return app


@pytest.mark.parametrize(
    ("device", "extra", "workers", "pinned"),
    [("cpu", (), 0, False), ("cpu", ("input.num_workers=2",), 2, False), ("cuda", ("input.num_workers=0",), 0, True)],
)
def test_every_loader_gets_the_runs_options(tiny_data, tmp_path, device, extra, workers, pinned) -> None:
    app = _app(tiny_data, tmp_path, device, *extra)
    loading = app.container.training.loading()
    assert (loading.num_workers, loading.pin_memory) == (workers, pinned)
    assert app.container.batches().loading is loading
    assert app.container.network.encoder().loading is loading


def test_auto_on_cuda_starts_workers_that_persist(tiny_data, tmp_path) -> None:
    loading = _app(tiny_data, tmp_path, "cuda:0").container.training.loading()
    assert loading.num_workers >= 1 and loading.pin_memory and loading.persistent_workers
    assert loading == LoaderOptions(
        num_workers=loading.num_workers, pin_memory=True, persistent_workers=True, prefetch_factor=loading.prefetch_factor
    )


@pytest.mark.parametrize("quiet", [False, True])
def test_runtime_quiet_turns_the_progress_bars_off(tiny_data, tmp_path, quiet) -> None:
    from reidkit.adapters.runtime.observers import ProgressObserver
    from reidkit.entrypoints.parts.model import shows_bars

    app = _app(tiny_data, tmp_path, "cpu", f"runtime.quiet={'true' if quiet else 'false'}")
    bars = [o for o in app.container.training.observers() if isinstance(o, ProgressObserver)]
    assert [o._enabled for o in bars] == [not quiet]
    assert shows_bars(True, quiet) is not quiet and shows_bars(False, False) is False

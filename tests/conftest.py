"""Shared test fixtures: paths to the golden data beside the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parents[1].parent / "shared" / "golden"


@pytest.fixture
def golden() -> Path:
    """The peers' reference outputs; skipped with a reason when ../shared is not beside the repo."""
    if not GOLDEN.is_dir():
        pytest.skip(f"golden data not found at {GOLDEN} (CI provides ../shared beside the checkout)")
    return GOLDEN


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """Cache folder holding the generated ``tiny`` preset (seed 0), made once per test session."""
    from reidkit.adapters.data.synth import ensure_synthetic

    folder = tmp_path_factory.mktemp("synthetic")
    ensure_synthetic("tiny", 0, folder)
    return folder


def tiny_overrides(data_dir: Path, *extra: str) -> list[str]:
    """--set overrides that make the demo profile run in seconds on the tiny preset."""
    return [
        "data.preset='tiny'",
        f"data.cache_dir='{data_dir}'",
        "input.height=64",
        "input.width=32",
        "train.ids_per_batch=4",
        "train.instances_per_id=2",
        "train.iters_per_epoch=2",
        "train.epochs=2",
        "eval.batch_size=64",
        *extra,
    ]

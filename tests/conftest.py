"""Shared fixtures: the golden data beside the checkout, the tiny preset, random starting models.
Helpers live in tests/support."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.tiny import starting_models

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


@pytest.fixture(scope="session")
def start_models(tmp_path_factory, tiny_data) -> dict[str, Path]:
    """Random starting models with the tiny profiles' architecture, and a fabricated translation
    of the tiny source (see tests.support.tiny)."""
    return starting_models(tmp_path_factory.mktemp("starting_models"), tiny_data)

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

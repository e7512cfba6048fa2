"""Composition root: settings, containers and the command line; and ``load``, a trained run's model
as a function from images to features (``from reidkit.entrypoints import load``)."""

from __future__ import annotations

from typing import Any

__all__ = ["load"]


def __getattr__(name: str) -> Any:
    # Imported on first use: `import reidkit.entrypoints` stays free of torch and of side effects.
    if name == "load":
        from reidkit.entrypoints.trained import load

        return load
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

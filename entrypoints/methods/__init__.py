"""The method registry: one module per method in this package, found by listing it.

A method module defines ``METHOD``, a ``MethodSpec``: its container, the settings class of its own
profile table (``[spcl]`` in an SpCL profile), and the starting models it needs beyond the
adaptation's own. Listing the package (not importing it) gives the method names, so loading a
profile stays light (no torch). Importing a method's module is light too: its container class is
made by a function, on first use, so that the command line checks a method's table before torch is
imported (a few seconds). Adding a method is adding a module here: no list elsewhere names the
methods.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from attrs import field, frozen


@frozen(kw_only=True)
class StartingModel:
    """A model a method starts from that `reidkit adapt` trains first when the profile names none:
    ``setting`` is the profile key that holds its file, ``reason`` the setting that asks for it,
    ``folder`` the sub-folder of the run its pre-training runs in, ``seed_offset`` what is added to
    the run's seed (MMT's second student starts from a source model trained with seed + 1);
    ``trunk`` keeps only the trunk of the trained model (USL's stand-in for ImageNet weights);
    ``label`` names it in result tables."""

    setting: str
    reason: str
    folder: str
    label: str
    seed_offset: int = 0
    trunk: bool = False

    def missing_message(self) -> str:
        seed = f" with seed + {self.seed_offset}" if self.seed_offset else ""
        return (
            f"{self.reason} needs {self.setting} (`reidkit adapt` trains adapt.pretrain_profile{seed} "
            "first when it is empty)"
        )


@frozen(kw_only=True)
class MethodSpec:
    """What the composition root needs to know of a method."""

    name: str
    summary: str
    # returns a DeclarativeContainer with `config` (the whole profile) and `use_case`; called when a
    # run is built (it imports torch), so a cached function defined in the method's module
    container: Callable[[], type]
    options: type | None = None  # attrs class of the method's own table; None = it has none
    # extra starting models, given the method's checked options (beyond the adaptation's own)
    starting_models: Callable[[Any], tuple[StartingModel, ...]] = field(default=lambda options: ())
    # profile-wide checks of the method's options, given the whole profile: raise ValueError
    check: Callable[[Any, Any], None] = field(default=lambda profile, options: None)
    # where the network the method evaluates (and deploys) sits in a checkpoint's components
    evaluated_weights: tuple[str | int, ...] = ("step", "model")


def method_names() -> list[str]:
    """Every method, by module name (nothing is imported)."""
    return sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))


def method_spec(name: str) -> MethodSpec:
    """The ``METHOD`` of ``name``'s module (imported now; light until its ``container()`` is called)."""
    if name not in method_names():
        raise KeyError(f"no method named {name!r}; methods: {', '.join(method_names())}")
    spec = importlib.import_module(f"{__name__}.{name}").METHOD
    if spec.name != name:
        raise RuntimeError(f"method module {name!r} declares METHOD.name = {spec.name!r}")
    return spec

"""Loading local pretrained weights with an explicit report of what did and did not load.

Partial loads are allowed (an ImageNet file has a 1000-way ``fc`` a re-ID trunk lacks), but never
silent: every missing key, unexpected key and shape mismatch is reported and logged.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import structlog
import torch
from attrs import frozen
from torch import nn

from reidkit.domain.errors import CheckpointError

log = structlog.get_logger(__name__)

# BatchNorm's step counter only matters for momentum=None; older torchvision files lack it, and
# listing it as missing for every BN layer would bury the keys that matter.
_IGNORED_MISSING = ("num_batches_tracked",)


@frozen
class ShapeMismatch:
    name: str
    file_shape: tuple[int, ...]
    model_shape: tuple[int, ...]


@frozen
class LoadReport:
    """What a partial load did. ``loaded`` keys match in both name and shape."""

    path: str
    loaded: tuple[str, ...]
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    mismatched: tuple[ShapeMismatch, ...]

    @property
    def complete(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self) -> str:
        total = len(self.loaded) + len(self.missing) + len(self.mismatched)
        parts = [f"loaded {len(self.loaded)}/{total} model tensors from {self.path}"]
        if self.missing:
            parts.append(f"missing from file: {_some(self.missing)}")
        if self.unexpected:
            parts.append(f"unused from file: {_some(self.unexpected)}")
        if self.mismatched:
            shapes = [f"{m.name} file {list(m.file_shape)} vs model {list(m.model_shape)}" for m in self.mismatched]
            parts.append(f"shape mismatches: {_some(shapes)}")
        return "; ".join(parts)


def _some(names: tuple[str, ...] | list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Reads a local state dict safely (``weights_only``), unwrapping ``state_dict``/``model`` (or
    a lone ``state_dict_*``) and stripping DataParallel's ``module.`` prefixes. Non-tensor entries
    are dropped. Numeric numpy scalars and arrays are allowed: torchreid's checkpoints store their
    rank-1 as one (OpenUnReID its best mAP), and they rebuild from raw bytes, never from code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file not found: {path}")
    try:
        with torch.serialization.safe_globals(_numeric_numpy()):
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if not _needs_unpickling(err):
            raise CheckpointError(f"{path} is not a readable torch weights file (damaged or not from torch.save)") from err
        raise CheckpointError(
            f"{path} holds objects other than tensors and plain containers; refusing to unpickle it "
            "(that could run code) - re-save it as a state_dict of tensors"
        ) from err
    except Exception as err:  # noqa: BLE001 - torch raises several types for a damaged file
        raise CheckpointError(f"{path} is not a readable torch weights file: {_first_line(err)}") from err
    state = _unwrap(raw, path)
    if state is None:
        raise CheckpointError(f"{path} does not hold a state dict (got {type(raw).__name__})")
    return {_strip_module(str(k)): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def _numeric_numpy() -> list[Any]:
    """What unpickling numeric numpy scalars and arrays needs, under numpy 2's names and numpy 1's
    (the names a file was written with are the ones it asks for). Object arrays stay refused."""
    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    numeric = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
               np.float16, np.float32, np.float64)
    allowed: list[Any] = [np.ndarray, np.dtype, *{type(np.dtype(t)) for t in numeric}]
    for name in ("scalar", "_reconstruct"):
        function = getattr(multiarray, name)
        allowed += [(function, f"numpy.core.multiarray.{name}"), (function, f"numpy._core.multiarray.{name}")]
    return allowed


def _unwrap(raw: object, path: Path) -> Mapping | None:
    if not isinstance(raw, Mapping):
        return None
    for key in ("state_dict", "model"):
        inner = raw.get(key)
        if isinstance(inner, Mapping):
            return inner
    # OpenUnReID saves one state_dict_<n> per network (two for MMT): one is unambiguous.
    numbered = sorted(str(k) for k, v in raw.items() if str(k).startswith("state_dict") and isinstance(v, Mapping))
    if len(numbered) == 1:
        return raw[numbered[0]]
    if len(numbered) > 1:
        raise CheckpointError(
            f"{path} holds {len(numbered)} networks ({', '.join(numbered)}); "
            f"torch.save the one to use (e.g. its ['{numbered[0]}']) to a file of its own and give that"
        )
    return raw


def _strip_module(name: str) -> str:
    while name.startswith("module."):
        name = name[len("module.") :]
    return name


def _needs_unpickling(err: pickle.UnpicklingError) -> bool:
    # weights_only reports a class outside its allowlist as a "global"; garbage bytes fail with
    # other unpickler errors (e.g. "Unsupported operand") and are merely unreadable.
    return "global" in str(err).lower()


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def load_pretrained(model_or_trunk: nn.Module, path: str | Path) -> LoadReport:
    """Loads every tensor of ``path`` that matches ``model_or_trunk`` in name and shape.

    Given a whole model with a ``trunk`` (a ReidNet), a torchvision backbone file goes into the
    trunk and a whole-model file into the model: whichever matches more names wins.
    """
    state = read_state_dict(path)
    target = _pick_target(model_or_trunk, state)
    report = _compare(str(path), state, target.state_dict())
    if not report.loaded:
        file_key = next(iter(state), "<none>")
        model_key = next(iter(target.state_dict()), "<none>")
        raise CheckpointError(
            f"{path}: none of its {len(state)} tensors match the model by name and shape "
            f"(file has e.g. {file_key!r}, model expects e.g. {model_key!r})"
        )
    target.load_state_dict({name: state[name] for name in report.loaded}, strict=False)
    (log.info if report.complete else log.warning)("weights loaded", report=report.summary())
    return report


def _pick_target(module: nn.Module, state: Mapping[str, torch.Tensor]) -> nn.Module:
    trunk = getattr(module, "trunk", None)
    if not isinstance(trunk, nn.Module):
        return module
    whole = len(state.keys() & module.state_dict().keys())
    part = len(state.keys() & trunk.state_dict().keys())
    return trunk if part > whole else module


def _compare(path: str, state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]) -> LoadReport:
    loaded, mismatched = [], []
    for name, tensor in state.items():
        if name in expected:
            if tuple(tensor.shape) == tuple(expected[name].shape):
                loaded.append(name)
            else:
                mismatched.append(ShapeMismatch(name, tuple(tensor.shape), tuple(expected[name].shape)))
    missing = [n for n in expected if n not in state and not n.endswith(_IGNORED_MISSING)]
    unexpected = [n for n in state if n not in expected]
    return LoadReport(path, tuple(loaded), tuple(missing), tuple(unexpected), tuple(mismatched))

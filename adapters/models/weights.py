"""Loading local pretrained weights with an explicit report of what did and did not load.

Partial loads are allowed (an ImageNet file has a 1000-way ``fc`` a re-ID trunk lacks), but never
silent: every missing key, unexpected key and shape mismatch is reported and logged.

Files come in the formats users have; each has a reader that renames its keys to the trunk's
(``WEIGHT_FORMATS``; ``"auto"`` tells them apart by their keys):

- ``reidkit``: a whole model this project exported (``trunk.``, ``neck.``, ``classifier.``);
- ``torchvision``: a torchvision ``state_dict`` (ResNets, the ``torchvision:<name>`` trunks);
- ``timm``: a timm ``state_dict``, possibly under ``"model"``/``"state_dict"`` (ViT, ``timm:<name>``);
- ``torchreid``: Torchreid's model zoo and its training checkpoints (``"state_dict"``, DataParallel's
  ``module.``); OSNet and ResNet names are the trunk's, its ``fc``/``classifier`` are reported unused;
- ``ibn_net``: the IBN-Net release; its current files share the trunk's names (``bn1.IN``,
  ``bn1.BN``), its older "slower implementation" (the paper's numbers: ``convbnin.conv1/conv2``,
  BN on the first half, IN on the second) is converted exactly (the two 1x1 convolutions stacked,
  the halves swapped, the next convolution's input channels permuted to match);
- ``ssl_vit``: self-supervised ViT pre-training (DINO, TransReID-SSL, PASS): the ``teacher``'s
  weights (the ``student``'s when there is no teacher), ``backbone.`` stripped; PASS's separate
  CLS position (``cls_pos``) joined to its patch positions, its part tokens reported unused;
- ``transreid``: a fine-tuned TransReID / TransReID-SSL / PASS re-ID model: ``base.`` is the trunk,
  ``bottleneck.`` the BNNeck, ``classifier.`` the classifier.

A trunk may adapt a file's tensors to itself before the comparison (``adapt_state_dict``): the
ViT trunk resamples position embeddings laid out for another grid. What was renamed or adapted
is in the report too.
"""

from __future__ import annotations

import argparse
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

WEIGHT_FORMATS = ("auto", "reidkit", "torchvision", "timm", "torchreid", "ibn_net", "ssl_vit", "transreid")

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
    format: str = ""  # the reader that renamed the file's keys
    adapted: tuple[str, ...] = ()  # what was converted on the way (renamed layouts, resampled grids)

    @property
    def complete(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self) -> str:
        total = len(self.loaded) + len(self.missing) + len(self.mismatched)
        parts = [f"loaded {len(self.loaded)}/{total} model tensors from {self.path}"]
        if self.format:
            parts[0] += f" ({self.format} format)"
        if self.adapted:
            parts.append(f"adapted: {_some(self.adapted)}")
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
    a lone ``state_dict_*``, or a self-supervised run's ``teacher``/``student``) and stripping
    DataParallel's ``module.`` prefixes. Non-tensor entries are dropped. Numeric numpy scalars and
    arrays are allowed: torchreid's checkpoints store their rank-1 as one (OpenUnReID its best mAP),
    and they rebuild from raw bytes, never from code; so are ``argparse.Namespace`` objects (a DINO
    checkpoint's ``args``), plain attribute bags whose contents go through the same restrictions."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
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


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """A .safetensors file (timm's releases, ``reidkit export --format safetensors``): tensors only
    by construction, so nothing to unpickle."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is not a readable safetensors file: {_first_line(err)}") from err
    return {_strip_module(name): tensor for name, tensor in state.items()}


def _numeric_numpy() -> list[Any]:
    """What unpickling numeric numpy scalars and arrays needs, under numpy 2's names and numpy 1's
    (the names a file was written with are the ones it asks for), and ``argparse.Namespace``.
    Object arrays stay refused."""
    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    numeric = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
               np.float16, np.float32, np.float64)
    allowed: list[Any] = [np.ndarray, np.dtype, *{type(np.dtype(t)) for t in numeric}, argparse.Namespace]
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
            return _unwrap(inner, path) if _is_container(inner) else inner
    # DINO, TransReID-SSL and PASS save both networks of their self-distillation: the teacher is
    # the one they fine-tune from.
    for key in ("teacher", "student"):
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


def _is_container(mapping: Mapping) -> bool:
    """A checkpoint dict rather than a state dict: it holds no tensors, only nested state."""
    return not any(isinstance(v, torch.Tensor) for v in mapping.values()) and any(
        str(k) in ("state_dict", "model", "teacher", "student") for k in mapping
    )


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


def load_pretrained(model_or_trunk: nn.Module, path: str | Path, *, format: str = "auto") -> LoadReport:  # noqa: A002
    """Loads every tensor of ``path`` that matches ``model_or_trunk`` in name and shape, after the
    ``format`` reader (``"auto"``: told by the file's keys) renamed the file's keys.

    Given a whole model with a ``trunk`` (a ReidNet), a backbone file goes into the trunk and a
    whole-model file into the model; given a trunk, a whole-model file's ``trunk.`` tensors go into
    it: whichever matches more names wins.
    """
    if format not in WEIGHT_FORMATS:
        raise ValueError(f"weights format must be one of {WEIGHT_FORMATS}, got {format!r}")
    state = read_state_dict(path)
    fmt = detect_format(state) if format == "auto" else format
    state, adapted = READERS[fmt](state)
    target, state = _align(model_or_trunk, state)
    for prefix, module in target.named_modules():
        adapt = getattr(module, "adapt_state_dict", None)
        if callable(adapt):
            adapted += adapt(state, f"{prefix}." if prefix else "")
    report = _compare(str(path), state, target.state_dict(), fmt, adapted)
    if not report.loaded:
        file_key = next(iter(state), "<none>")
        model_key = next(iter(target.state_dict()), "<none>")
        raise CheckpointError(
            f"{path}: none of its {len(state)} tensors match the model by name and shape "
            f"(read as {fmt}; file has e.g. {file_key!r}, model expects e.g. {model_key!r})"
        )
    target.load_state_dict({name: state[name] for name in report.loaded}, strict=False)
    (log.info if report.complete else log.warning)("weights loaded", report=report.summary())
    return report


def detect_format(state: Mapping[str, torch.Tensor]) -> str:
    """The format a state dict's keys betray (after ``read_state_dict``'s unwrapping)."""
    keys = list(state)
    if any(k.startswith("trunk.") for k in keys):
        return "reidkit"  # a whole model this project saved (its trunk alone has its library's names)
    if any(k.startswith("base.") for k in keys) and any(k.endswith(("cls_token", "pos_embed")) for k in keys):
        return "transreid"
    if any(k.startswith("backbone.") for k in keys) or any(k in ("cls_pos", "part_token1") for k in keys):
        return "ssl_vit"
    if any(".convbnin." in k or ".bn1.IN." in k for k in keys):
        return "ibn_net"
    resnet_with_classifier = any(k.startswith("layer1.") for k in keys) and any(k.startswith("classifier.") for k in keys)
    if any(k.startswith("conv1.conv.") for k in keys) or resnet_with_classifier:
        return "torchreid"  # OSNet's layer names, or a ResNet with a re-ID classifier (torchvision's is "fc")
    if any(k in ("cls_token", "pos_embed") or k.startswith(("stem.", "stages.", "blocks.")) for k in keys):
        return "timm"
    return "torchvision"


Renamed = tuple[dict[str, torch.Tensor], list[str]]


def _as_is(state: Mapping[str, torch.Tensor]) -> Renamed:
    return dict(state), []


def _ibn_net(state: Mapping[str, torch.Tensor]) -> Renamed:
    """The IBN-Net release. Its old layout (``layerL.B.convbnin.{conv1,conv2,BN,IN}``: two 1x1
    convolutions, BN on the first half of the channels and IN on the second) becomes the trunk's
    (``conv1`` and ``bn1.IN``/``bn1.BN``: IN on the first half): the IN half's convolution first,
    and the block's ``conv2`` reading its input channels in that order."""
    out = dict(state)
    blocks = sorted({k.split(".convbnin.")[0] for k in state if ".convbnin." in k})
    for block in blocks:
        bn_conv = out.pop(f"{block}.convbnin.conv1.weight")
        in_conv = out.pop(f"{block}.convbnin.conv2.weight")
        out[f"{block}.conv1.weight"] = torch.cat((in_conv, bn_conv), dim=0)
        for key in [k for k in out if k.startswith(f"{block}.convbnin.")]:
            norm, _, field = key[len(f"{block}.convbnin.") :].partition(".")  # "BN"/"IN", the tensor
            out[f"{block}.bn1.{norm}.{field}"] = out.pop(key)
        conv2 = out.get(f"{block}.conv2.weight")
        if conv2 is not None:
            bn_half, in_half = bn_conv.shape[0], in_conv.shape[0]
            order = torch.cat((torch.arange(bn_half, bn_half + in_half), torch.arange(bn_half)))
            out[f"{block}.conv2.weight"] = conv2[:, order]
    notes = [f"{len(blocks)} blocks of the old IBN-a layout (convbnin) converted"] if blocks else []
    return out, notes


def _pass_positions(state: dict[str, torch.Tensor], prefix: str) -> list[str]:
    """PASS keeps the CLS token's position apart (``cls_pos``) and its ``pos_embed`` has the patch
    positions only: join them in timm's layout (CLS position first)."""
    cls_pos, pos = state.get(f"{prefix}cls_pos"), state.get(f"{prefix}pos_embed")
    if cls_pos is None or pos is None:
        return []
    state[f"{prefix}pos_embed"] = torch.cat((cls_pos, pos), dim=1)
    del state[f"{prefix}cls_pos"]
    return [f"{prefix}pos_embed: PASS's cls_pos joined to its {pos.shape[1]} patch positions"]


def _ssl_vit(state: Mapping[str, torch.Tensor]) -> Renamed:
    """DINO / TransReID-SSL / PASS pre-training: the backbone's tensors without ``backbone.``
    (the projection head's ``head.*`` stay, and are reported unused)."""
    out = {k.removeprefix("backbone."): v for k, v in state.items()}
    notes = [f"'backbone.' stripped from {sum(k.startswith('backbone.') for k in state)} keys"]
    return out, notes + _pass_positions(out, "")


_TRANSREID_HEAD = {"bottleneck.": "neck.", "classifier.": "classifier."}


def _transreid(state: Mapping[str, torch.Tensor]) -> Renamed:
    """A fine-tuned TransReID-family model: ``base.`` (the ViT) -> ``trunk.``, ``bottleneck.``
    (the BNNeck) -> ``neck.``, the classifier kept; other heads (JPM's ``b1``/``b2``, the part
    classifiers) are reported unused."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith("base."):
            key = "trunk." + key[len("base.") :]
        else:
            for old, new in _TRANSREID_HEAD.items():
                if key.startswith(old):
                    key = new + key[len(old) :]
                    break
        out[key] = value
    return out, ["base. -> trunk., bottleneck. -> neck."] + _pass_positions(out, "trunk.")


READERS = {
    "reidkit": _as_is,
    "torchvision": _as_is,
    "timm": _as_is,
    "torchreid": _as_is,
    "ibn_net": _ibn_net,
    "ssl_vit": _ssl_vit,
    "transreid": _transreid,
}


def _align(module: nn.Module, state: dict[str, torch.Tensor]) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """The module the file's names fit best, and the names as they fit it: the whole model, its
    ``trunk`` (a backbone file into a ReidNet), or a trunk given a whole model's ``trunk.`` names."""
    candidates = [(module, state)]
    trunk = getattr(module, "trunk", None)
    if isinstance(trunk, nn.Module):
        candidates.append((trunk, state))
    elif any(k.startswith("trunk.") for k in state):
        candidates.append((module, {k.removeprefix("trunk."): v for k, v in state.items()}))
    scores = [len(names.keys() & target.state_dict().keys()) for target, names in candidates]
    best = max(range(len(candidates)), key=lambda i: (scores[i], -i))
    return candidates[best]


def _compare(
    path: str, state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], fmt: str = "", adapted: list[str] | None = None
) -> LoadReport:
    loaded, mismatched = [], []
    for name, tensor in state.items():
        if name in expected:
            if tuple(tensor.shape) == tuple(expected[name].shape):
                loaded.append(name)
            else:
                mismatched.append(ShapeMismatch(name, tuple(tensor.shape), tuple(expected[name].shape)))
    missing = [n for n in expected if n not in state and not n.endswith(_IGNORED_MISSING)]
    unexpected = [n for n in state if n not in expected]
    return LoadReport(path, tuple(loaded), tuple(missing), tuple(unexpected), tuple(mismatched), fmt, tuple(adapted or ()))

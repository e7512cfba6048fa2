"""Any timm or torchvision classification model as a re-ID trunk: the model without its global
pooling and classifier, returning its last (N, C, H, W) feature map.

- ``timm:<name>``: ``timm.create_model(name, pretrained=False, num_classes=0, global_pool="")``;
  the trunk *is* the timm model, so its parameter names are timm's and a timm file loads key for
  key (the classifier's tensors are reported as unused).
- ``torchvision:<name>``: ``torchvision.models.get_model(name, weights=None)`` cut at its last
  feature map with ``torchvision.models.feature_extraction`` (an FX graph module that keeps the
  model's module paths, so a torchvision file loads key for key). The cut is found by running the
  traced model once: the last node with the smallest spatial map that is not part of the
  classifier (``fc``, ``classifier``, ``head``): ``layer4`` of a ResNeXt, the ReLU after
  DenseNet's ``features``, ``features`` of MobileNetV2, ``conv5`` of ShuffleNetV2.

``last_stride=1`` (the re-ID default) removes the last downsampling: every strided convolution or
pooling whose output is at the final resolution but whose input is larger gets stride 1 (a
non-overlapping pool becomes a 1x1 pool), found with forward hooks on one probe pass and checked by
another (the map must double). A model whose final map no such layer produces is refused.

Nothing is downloaded: both libraries build with random weights; ``model.pretrained`` points at a
local file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
import torch
import torchvision
from torch import nn

log = structlog.get_logger(__name__)

GENERIC_PREFIXES = ("timm:", "torchvision:")
# The input the cut and the strides are found with: the embedded data's size, half the standard
# re-ID one (a 32x final stride gives a 4x2 map, enough to tell a spatial map from a pooled one,
# at a quarter of the probing cost).
PROBE_SIZE = (128, 64)
# Top-level modules of a classification head: never part of the trunk's map.
HEAD_MODULES = ("fc", "classifier", "head", "heads", "last_linear")


def build_generic_trunk(name: str, *, last_stride: int = 1, **options: Any) -> nn.Module:
    """``timm:<name>`` or ``torchvision:<name>``; ``options`` go to the library's constructor
    (e.g. ``drop_path_rate`` for timm). The returned module has ``out_channels``."""
    if last_stride not in (1, 2):
        raise ValueError(f"last_stride must be 1 or 2, got {last_stride}")
    library, _, model_name = name.partition(":")
    if not model_name:
        raise ValueError(f"a generic backbone is 'timm:<model>' or 'torchvision:<model>', got {name!r}")
    if options.get("pretrained") or options.get("weights"):
        raise ValueError("generic trunks are built without weights (nothing is downloaded): point model.pretrained at a local file")
    options = {k: v for k, v in options.items() if k not in ("pretrained", "weights")}
    if library == "timm":
        trunk = _timm_trunk(model_name, options)
    elif library == "torchvision":
        trunk = _torchvision_trunk(model_name, options)
    else:
        raise ValueError(f"a generic backbone is 'timm:<model>' or 'torchvision:<model>', got {name!r}")
    channels, size = _probe(trunk)
    if last_stride == 1:
        _remove_last_stride(trunk, name, size)
    trunk.out_channels = channels
    return trunk


def _timm_trunk(model_name: str, options: Mapping[str, Any]) -> nn.Module:
    import timm  # imported when a timm trunk is built: importing timm takes seconds

    if not timm.is_model(model_name):
        raise ValueError(f"timm has no model {model_name!r} (timm.list_models() lists them)")
    model = timm.create_model(model_name, pretrained=False, num_classes=0, global_pool="", **options)
    tokens = (
        f"timm:{model_name} is a transformer returning tokens, not a feature map; for a ViT use the "
        "'vit_small_patch16' / 'vit_base_patch16' backbones"
    )
    if hasattr(model, "patch_embed"):
        raise ValueError(tokens)
    with torch.no_grad():
        out = _run(model)
    if out.ndim != 4:
        raise ValueError(tokens)
    return model


def _torchvision_trunk(model_name: str, options: Mapping[str, Any]) -> nn.Module:
    from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

    try:
        model = torchvision.models.get_model(model_name, weights=None, **options)
    except ValueError as err:
        raise ValueError(f"torchvision has no classification model {model_name!r}: {err}") from None
    model.eval()
    _, nodes = get_graph_node_names(model)
    candidates = [n for n in nodes if n.split(".")[0] not in HEAD_MODULES]
    probe = create_feature_extractor(model, return_nodes={n: n for n in candidates})
    with torch.no_grad():
        outputs = _run(probe)
    maps = [
        (name, value.shape[-2] * value.shape[-1])
        for name, value in outputs.items()
        if isinstance(value, torch.Tensor) and value.ndim == 4 and value.shape[-2] * value.shape[-1] > 1
    ]
    if not maps:
        raise ValueError(f"torchvision:{model_name} has no spatial feature map to cut at")
    smallest = min(area for _, area in maps)
    node = [name for name, area in maps if area == smallest][-1]
    trunk = create_feature_extractor(model, return_nodes={node: "map"})
    _return_the_map(trunk)
    trunk.train()
    log.debug("torchvision trunk", model=model_name, cut_at=node)
    return trunk


def _return_the_map(extractor: nn.Module) -> None:
    """Makes the feature extractor return its one map rather than ``{"map": tensor}``, in both
    its train and eval graphs. It stays torchvision's graph module: its module paths are the
    model's (a torchvision file loads key for key) and its code looks submodules up by attribute
    at call time (a BN converted to SyncBN or DSBN stays in use)."""
    for graph in (extractor.train_graph, extractor.eval_graph):
        output = next(node for node in graph.nodes if node.op == "output")
        (returned,) = output.args
        output.args = (returned["map"],)
        graph.lint()
    extractor.graph = extractor.train_graph if extractor.training else extractor.eval_graph  # recompiles


def _run(model: nn.Module) -> torch.Tensor:
    was_training = model.training
    model.eval()
    try:
        out = model(torch.zeros(1, 3, *PROBE_SIZE))
    finally:
        model.train(was_training)
    return out


def _probe(trunk: nn.Module) -> tuple[int, tuple[int, int]]:
    with torch.no_grad():
        out = _run(trunk)
    return int(out.shape[1]), (int(out.shape[-2]), int(out.shape[-1]))


def _remove_last_stride(trunk: nn.Module, name: str, final: tuple[int, int]) -> None:
    sizes: dict[nn.Module, tuple[tuple[int, int], tuple[int, int]]] = {}

    def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        if inputs and isinstance(inputs[0], torch.Tensor) and isinstance(output, torch.Tensor) and output.ndim == 4:
            sizes[module] = (tuple(inputs[0].shape[-2:]), tuple(output.shape[-2:]))

    strided = [m for m in trunk.modules() if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d))]
    handles = [m.register_forward_hook(record) for m in strided]
    try:
        with torch.no_grad():
            _run(trunk)
    finally:
        for handle in handles:
            handle.remove()
    last = [m for m, (size_in, size_out) in sizes.items() if size_out == final and (size_in[0] > size_out[0] or size_in[1] > size_out[1])]
    if not last:
        raise ValueError(f"{name}: no strided layer produces the final map, so last_stride=1 cannot apply; use last_stride=2")
    for module in last:
        _unstride(module)
    _, size = _probe(trunk)
    if size != (final[0] * 2, final[1] * 2):
        raise ValueError(
            f"{name}: removing the last stride gave a {size[0]}x{size[1]} map from {final[0]}x{final[1]}; use last_stride=2"
        )


def _unstride(module: nn.Module) -> None:
    if isinstance(module, nn.Conv2d):
        module.stride = (1, 1)
        return
    kernel = module.kernel_size if isinstance(module.kernel_size, tuple) else (module.kernel_size, module.kernel_size)
    stride = module.stride if isinstance(module.stride, tuple) else (module.stride, module.stride)
    if tuple(kernel) == tuple(stride) and not any(_pair(module.padding)):
        module.kernel_size = 1  # a non-overlapping pool without its stride pools nothing
    module.stride = 1


def _pair(value: int | tuple[int, ...]) -> tuple[int, ...]:
    return value if isinstance(value, tuple) else (value, value)

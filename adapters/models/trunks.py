"""One factory for every trunk: a module mapping images (N, 3, H, W) to a feature map (N, C, h, w),
with ``out_channels`` = C. ``ReidNet`` (or ``PCBNet``) is the head around any of them.

Names (``model.backbone`` in a profile):

==========================================  =====================================================
``resnet18`` ``resnet34`` ``resnet50``      torchvision ResNets (``trunk.py``), as before
``resnet101``
``resnet50_ibn_a`` ``resnet101_ibn_a``      IBN-Net-a (``ibn.py``)
``osnet_x1_0`` ``osnet_x0_75``              OSNet and its width multipliers, OSNet-IBN, OSNet-AIN
``osnet_x0_5`` ``osnet_x0_25``              (``osnet.py``)
``osnet_ibn_x1_0`` ``osnet_ain_x1_0`` ...
``vit_small_patch16`` ``vit_base_patch16``  ViT for re-ID through timm (``vit.py``)
``timm:<name>`` ``torchvision:<name>``      any timm / torchvision classification CNN (``generic.py``)
==========================================  =====================================================

Options by family (anything else is refused, naming what the family takes):

- ResNet, IBN-a, generic CNNs: ``last_stride`` (1 = the re-ID default, doubles the final map);
- OSNet: none; its final map is already 1/16 of the input (the papers' design), so ``last_stride``
  has no effect (logged);
- ViT: ``img_size`` (height, width) for the position embeddings, ``patch_stride`` (12 = TransReID's
  overlapping patches, 16 = plain), ``drop_path_rate``, ``output`` (``"cls"`` / ``"patches"``),
  ``stem`` (``"patch"`` / ``"ics"``); ``last_stride`` has no meaning (logged);
- generic: keyword arguments of ``timm.create_model`` / ``torchvision.models.get_model``.

Every trunk is built with random weights; nothing is ever downloaded.
"""

from __future__ import annotations

from typing import Any

import structlog
from torch import nn

from reidkit.adapters.models.generic import GENERIC_PREFIXES, build_generic_trunk
from reidkit.adapters.models.ibn import IBN_RESNETS, build_resnet_ibn_a_trunk
from reidkit.adapters.models.names import TRUNK_NAMES, is_trunk_name, unknown_backbone_message
from reidkit.adapters.models.osnet import OSNET_NAMES, build_osnet_trunk
from reidkit.adapters.models.trunk import RESNETS, build_resnet_trunk
from reidkit.adapters.models.vit import VITS, build_vit_trunk

log = structlog.get_logger(__name__)

VIT_OPTIONS = ("img_size", "patch_stride", "drop_path_rate", "output", "stem")


def build_trunk(name: str, *, last_stride: int = 1, **options: Any) -> nn.Module:
    """The trunk named ``name``, randomly initialised; see the module docstring for the names and
    the options each family takes."""
    if last_stride not in (1, 2):
        raise ValueError(f"last_stride must be 1 or 2, got {last_stride}")
    if name in RESNETS:
        _no_options(name, options)
        return build_resnet_trunk(name, last_stride=last_stride)
    if name in IBN_RESNETS:
        _no_options(name, options)
        return build_resnet_ibn_a_trunk(name, last_stride=last_stride)
    if name in OSNET_NAMES:
        _no_options(name, options)
        if last_stride != 1:
            log.info("last_stride has no effect on OSNet (its final map is 1/16 of the input)", backbone=name)
        return build_osnet_trunk(name)
    if name in VITS:
        unknown = sorted(set(options) - set(VIT_OPTIONS))
        if unknown:
            raise ValueError(f"{name} takes the options {list(VIT_OPTIONS)}, got {unknown}")
        if last_stride != 1:
            log.info("last_stride has no meaning for a ViT", backbone=name)
        return build_vit_trunk(name, **options)
    if name.startswith(GENERIC_PREFIXES):
        return build_generic_trunk(name, last_stride=last_stride, **options)
    raise ValueError(unknown_backbone_message(name))


def _no_options(name: str, options: dict[str, Any]) -> None:
    if options:
        raise ValueError(f"{name} takes no options beyond last_stride, got {sorted(options)}")

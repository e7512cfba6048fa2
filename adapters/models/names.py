"""The names of the backbones, heads and weight formats, without importing torch: the profile
schema checks ``model.backbone`` against them when a profile loads (before any heavy import), and
the model factories build from the same names (tests/unit/adapters/models/test_names.py keeps the
two in step)."""

from __future__ import annotations

RESNET_NAMES = ("resnet18", "resnet34", "resnet50", "resnet101")
IBN_NAMES = ("resnet50_ibn_a", "resnet101_ibn_a")
OSNET_WIDTHS = ("x1_0", "x0_75", "x0_5", "x0_25")
OSNET_NAMES = (
    *(f"osnet_{w}" for w in OSNET_WIDTHS),
    "osnet_ibn_x1_0",
    *(f"osnet_ain_{w}" for w in OSNET_WIDTHS),
)
VIT_NAMES = ("vit_small_patch16", "vit_base_patch16")
GENERIC_PREFIXES = ("timm:", "torchvision:")
TRUNK_NAMES = (*RESNET_NAMES, *IBN_NAMES, *OSNET_NAMES, *VIT_NAMES)

HEADS = ("bnneck", "pcb")
WEIGHT_FORMATS = ("auto", "reidkit", "torchvision", "timm", "torchreid", "ibn_net", "ssl_vit", "transreid")


def is_trunk_name(name: str) -> bool:
    """Whether a trunk of this name can be built: a fixed name, or ``timm:<model>`` /
    ``torchvision:<model>``."""
    return name in TRUNK_NAMES or (name.startswith(GENERIC_PREFIXES) and name.partition(":")[2] != "")


def unknown_backbone_message(name: str) -> str:
    return f"backbone must be one of {list(TRUNK_NAMES)} or 'timm:<model>' / 'torchvision:<model>', got {name!r}"

"""ResNet trunks: a torchvision ResNet without its pooling and classifier.

The trunk keeps torchvision's attribute names (``conv1``, ``bn1``, ``layer1``...), so a
torchvision ImageNet state dict loads into it key for key.
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn

RESNETS = {
    "resnet18": torchvision.models.resnet18,
    "resnet34": torchvision.models.resnet34,
    "resnet50": torchvision.models.resnet50,
    "resnet101": torchvision.models.resnet101,
}


class ResNetTrunk(nn.Module):
    """conv1 .. layer4 of a torchvision ResNet; ``out_channels`` is layer4's width."""

    def __init__(self, resnet: torchvision.models.ResNet) -> None:
        super().__init__()
        self.conv1 = resnet.conv1
        self.bn1 = resnet.bn1
        self.relu = resnet.relu
        self.maxpool = resnet.maxpool
        self.layer1 = resnet.layer1
        self.layer2 = resnet.layer2
        self.layer3 = resnet.layer3
        self.layer4 = resnet.layer4
        self.out_channels = int(resnet.fc.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def set_last_stride(trunk: ResNetTrunk, stride: int) -> None:
    """Sets the stride of layer4's first block (its strided conv and its downsample shortcut).

    Stride 1 doubles the final map's height and width, which re-ID benefits from (finer spatial
    detail for the same weights). BasicBlock strides conv1 and Bottleneck conv2, so every strided
    conv of the block is changed rather than one by name.
    """
    if stride not in (1, 2):
        raise ValueError(f"last_stride must be 1 or 2, got {stride}")
    block = trunk.layer4[0]
    for module in block.modules():
        if isinstance(module, nn.Conv2d) and module.stride != (1, 1):
            module.stride = (stride, stride)
    block.stride = stride


def build_resnet_trunk(name: str, *, last_stride: int = 1) -> ResNetTrunk:
    """A randomly initialised trunk (``weights=None``: nothing is ever downloaded)."""
    if name not in RESNETS:
        raise ValueError(f"backbone must be one of {sorted(RESNETS)}, got {name!r}")
    trunk = ResNetTrunk(RESNETS[name](weights=None))
    set_last_stride(trunk, last_stride)
    return trunk

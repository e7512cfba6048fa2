"""IBN-Net-a ResNet trunks (Pan, Luo, Shi, Tang, "Two at Once: Enhancing Learning and
Generalization Capacities via IBN-Net", ECCV 2018).

IBN-a keeps ResNet's layout and replaces, in every bottleneck of layers 1-3, the BatchNorm after
the block's first (1x1) convolution by an IBN layer: instance normalisation (affine) on the first
half of the channels, batch normalisation on the rest, concatenated. Layer 4 and the stem stay
batch-normalised: the paper puts IN where the features carry appearance (style) and keeps BN where
they must stay discriminative. IN's affine parameters take the place of BN's for those channels,
so the model has exactly ResNet's parameter count.

The trunk is the torchvision ResNet with those layers swapped in: names stay torchvision's
(``layer1.0.conv1.weight``), and the IBN layer's halves are ``bn1.IN.*`` and ``bn1.BN.*`` as in
the IBN-Net release, fast-reid and Torchreid, so their ResNet-IBN-a files load key for key. The
release's older "slower implementation" (``resnet50_ibn_a_old``, the paper's numbers: two 1x1
convolutions ``convbnin.conv1``/``conv2`` with BN first and IN second) is converted by the
``ibn_net`` weight reader.
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from reidkit.adapters.models.trunk import ResNetTrunk, set_last_stride

IBN_RESNETS = {
    "resnet50_ibn_a": torchvision.models.resnet50,
    "resnet101_ibn_a": torchvision.models.resnet101,
}
IBN_LAYERS = ("layer1", "layer2", "layer3")
IN_RATIO = 0.5


class IBN(nn.Module):
    """Instance norm (affine) on the first ``int(channels * ratio)`` channels, BatchNorm on the rest."""

    def __init__(self, channels: int, ratio: float = IN_RATIO) -> None:
        super().__init__()
        if not 0.0 < ratio < 1.0:
            raise ValueError(f"the IN ratio must be in (0, 1), got {ratio}")
        self.half = int(channels * ratio)
        self.IN = nn.InstanceNorm2d(self.half, affine=True)
        self.BN = nn.BatchNorm2d(channels - self.half)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, rest = torch.split(x, [self.half, x.shape[1] - self.half], dim=1)
        return torch.cat((self.IN(first.contiguous()), self.BN(rest.contiguous())), dim=1)


def build_resnet_ibn_a_trunk(name: str, *, last_stride: int = 1) -> ResNetTrunk:
    """A randomly initialised ResNet-IBN-a trunk (nothing is downloaded)."""
    if name not in IBN_RESNETS:
        raise ValueError(f"IBN-a backbone must be one of {sorted(IBN_RESNETS)}, got {name!r}")
    resnet = IBN_RESNETS[name](weights=None)
    for layer in IBN_LAYERS:
        for block in getattr(resnet, layer):
            block.bn1 = IBN(block.bn1.num_features)  # IN's affine starts at 1 / 0 like the BN it replaces
    trunk = ResNetTrunk(resnet)
    set_last_stride(trunk, last_stride)
    return trunk

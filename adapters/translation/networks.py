"""CycleGAN's generator and PatchGAN discriminator (Zhu et al. 2017) and SPGAN's Siamese metric
network (Deng et al. 2018), for translating labelled source images into the target's style.

The norm is CycleGAN's instance norm without affine parameters or running statistics, so every
conv keeps its bias (nothing else would shift the activations).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _instance_norm(channels: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class _ResidualBlock(nn.Module):
    """Two reflection-padded 3x3 convs with a skip: reflection rather than zero padding avoids
    dark borders in the translated images."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            _instance_norm(channels),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            _instance_norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """Image-to-image generator: two stride-2 downsamplings, residual blocks, two transposed-conv
    upsamplings, tanh output in [-1, 1] (images are expected normalised to that range).

    Two halvings and two exact doublings give back the input's size only when H and W are
    divisible by 4, hence the check in forward.
    """

    def __init__(self, *, blocks: int = 9, width: int = 64, channels: int = 3) -> None:
        super().__init__()
        if blocks < 1:
            raise ValueError(f"ResnetGenerator needs at least 1 residual block, got blocks={blocks}")
        w = width
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(channels, w, 7),
            _instance_norm(w),
            nn.ReLU(inplace=True),
        ]
        for mult in (1, 2):  # w -> 2w -> 4w
            layers += [
                nn.Conv2d(w * mult, w * mult * 2, 3, stride=2, padding=1),
                _instance_norm(w * mult * 2),
                nn.ReLU(inplace=True),
            ]
        layers += [_ResidualBlock(4 * w) for _ in range(blocks)]
        for mult in (4, 2):  # 4w -> 2w -> w
            layers += [
                # output_padding=1 makes each upsampling an exact doubling.
                nn.ConvTranspose2d(w * mult, w * mult // 2, 3, stride=2, padding=1, output_padding=1),
                _instance_norm(w * mult // 2),
                nn.ReLU(inplace=True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(w, channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        if height % 4 or width % 4:
            raise ValueError(
                f"ResnetGenerator needs H and W divisible by 4 to return the input's size, got {height}x{width}"
            )
        return self.model(images)


class PatchDiscriminator(nn.Module):
    """The 70x70 PatchGAN (at layers=3): one real/fake score per overlapping patch, no sigmoid
    because CycleGAN trains it with the least-squares loss."""

    def __init__(self, *, layers: int = 3, width: int = 64, channels: int = 3) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"PatchDiscriminator needs layers >= 1, got {layers}")
        w = width
        seq: list[nn.Module] = [nn.Conv2d(channels, w, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        for n in range(1, layers):
            c_in, c_out = w * min(2 ** (n - 1), 8), w * min(2**n, 8)
            seq += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), _instance_norm(c_out), nn.LeakyReLU(0.2, inplace=True)]
        c_in, c_out = w * min(2 ** (layers - 1), 8), w * min(2**layers, 8)
        seq += [nn.Conv2d(c_in, c_out, 4, stride=1, padding=1), _instance_norm(c_out), nn.LeakyReLU(0.2, inplace=True)]
        seq.append(nn.Conv2d(c_out, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*seq)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)


# Each of the three stages halves the size twice (a stride-2 conv, then a 2x2 max pool).
_METRIC_HALVINGS = 6


def _metric_feature_size(size: int) -> int:
    for _ in range(_METRIC_HALVINGS):
        size //= 2  # conv 4x4 s2 p1 and max pool 2x2 both floor-halve
    return size


class MetricNet(nn.Module):
    """SPGAN's Siamese network: an L2-normalised embedding in which a translated image should stay
    close to its source image (self-similarity) and far from the other domain (domain
    dissimilarity), compared with the contrastive loss."""

    def __init__(self, *, height: int, width: int, dim: int = 64, channels: int = 3) -> None:
        super().__init__()
        min_size = 2**_METRIC_HALVINGS
        if height < min_size or width < min_size:
            raise ValueError(
                f"MetricNet needs an input of at least {min_size}x{min_size} (six halvings), got {height}x{width}"
            )
        self.height, self.width = height, width
        self.features = nn.Sequential(
            nn.Conv2d(channels, dim, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(dim, 2 * dim, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(2 * dim, 4 * dim, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.MaxPool2d(2, 2),
        )
        # The published code hard-codes 2048 inputs, right only at 256x128 (dim 64): the flat size
        # follows from the input size, so it is computed here.
        flat = 4 * dim * _metric_feature_size(height) * _metric_feature_size(width)
        self.head = nn.Sequential(
            nn.Linear(flat, 2 * dim, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Dropout(0.5),
            nn.Linear(2 * dim, dim, bias=False),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        if (height, width) != (self.height, self.width):
            raise ValueError(f"MetricNet was built for {self.height}x{self.width} inputs, got {height}x{width}")
        embedding = self.head(self.features(images).flatten(1))
        return F.normalize(embedding, dim=1, eps=1e-12)


# Norm layers that may carry a scale and shift (BatchNorm and InstanceNorm share _NormBase).
_AFFINE_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def init_gan_weights(module: nn.Module, *, seed: int, gain: float = 0.02) -> None:
    """CycleGAN's "normal" initialisation: weights ~ N(0, gain), norm scales ~ N(1, gain), biases 0.

    Values are drawn on the CPU from a private generator and then copied, so the weights depend
    only on the seed (not on the device, nor on whatever else consumed the global RNG) and
    initialising does not shift the global RNG that the data pipeline relies on.
    """
    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed)

    def draw(tensor: torch.Tensor, mean: float) -> None:
        values = torch.empty(tensor.shape, dtype=torch.float32).normal_(mean, gain, generator=generator)
        tensor.copy_(values)

    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, (nn.modules.conv._ConvNd, nn.Linear)):
                draw(sub.weight, 0.0)
            elif isinstance(sub, _AFFINE_NORMS) and getattr(sub, "weight", None) is not None:
                draw(sub.weight, 1.0)
            else:
                continue
            if sub.bias is not None:
                sub.bias.zero_()

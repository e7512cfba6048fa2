"""A foreground-mask head for a re-ID trunk (issue 21, the baggage pipeline): a small decoder on
an intermediate stage of the trunk predicts where the object is, trained against Gaussian targets
from the true boxes (``adapters/losses/mask.py``); optionally the mask also weights the pooling
(attention), so that the descriptor is drawn from the object rather than the clutter around it.

As in the MVB fork, the decoder reads one stage (ResNet ``layer3``: 1,024 channels at stride 16
for ResNet-50/101) through three conv-BN-ReLU blocks with x2 bilinear upsampling and a fourth
without, then a 1x1 conv and a sigmoid: a mask at stride 2, upsampled to the input size. The
stage is tapped with a forward hook on the named sub-module, so any trunk that has one works;
a trunk without it is refused with one line when the model is built.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MaskDecoder(nn.Module):
    """(N, C, h, w) stage features -> (N, 1, 8h, 8w) foreground probabilities."""

    def __init__(self, in_channels: int, *, widths: tuple[int, int, int, int] = (512, 256, 128, 64)) -> None:
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        blocks: list[nn.Module] = []
        channels = in_channels
        for index, width in enumerate(widths):
            blocks += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            if index < len(widths) - 1:
                blocks.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
            channels = width
        blocks.append(nn.Conv2d(channels, 1, 1))
        self.layers = nn.Sequential(*blocks)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.layers(features))


class StageTap:
    """Keeps the output of one named sub-module of a trunk from its latest forward pass."""

    def __init__(self, trunk: nn.Module, stage: str) -> None:
        modules = dict(trunk.named_modules())
        if stage not in modules or stage == "":
            stages = [name for name, _ in trunk.named_children()]
            raise ValueError(f"the trunk has no stage {stage!r} for the mask head to read; its stages: {stages}")
        self.stage = stage
        self.output: torch.Tensor | None = None
        self._handle = modules[stage].register_forward_hook(self._keep)

    def remove(self) -> None:
        self._handle.remove()

    def _keep(self, _module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        self.output = output

    def take(self) -> torch.Tensor:
        if self.output is None:
            raise RuntimeError(f"the trunk's stage {self.stage!r} did not run")
        output, self.output = self.output, None
        return output


def stage_channels(trunk: nn.Module, stage: str, height: int, width: int) -> int:
    """The channel count of ``stage``'s output, from one forward pass of a tiny batch (eval mode,
    no gradient; the trunk's mode is restored)."""
    tap = StageTap(trunk, stage)
    was_training = trunk.training
    trunk.eval()
    try:
        with torch.no_grad():
            parameter = next(trunk.parameters())
            trunk(torch.zeros(1, 3, height, width, device=parameter.device, dtype=parameter.dtype))
        return int(tap.take().shape[1])
    finally:
        tap.remove()
        trunk.train(was_training)


def masked(feature_map: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The trunk's final map weighted by the mask brought to its size (attention pooling)."""
    weights = F.interpolate(mask, size=feature_map.shape[-2:], mode="bilinear", align_corners=False)
    return feature_map * weights.to(feature_map.dtype)

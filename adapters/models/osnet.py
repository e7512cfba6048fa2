"""OSNet trunks: omni-scale networks for re-ID, written from the papers.

Zhou, Yang, Cavallaro, Xiang, "Omni-Scale Feature Learning for Person Re-Identification", ICCV 2019
(OSNet), and "Learning Generalisable Omni-Scale Representations for Person Re-Identification",
TPAMI 2021 (OSNet-AIN). What the papers specify, and this module builds:

- a **lightweight 3x3 convolution**: a pointwise 1x1 convolution then a depthwise 3x3 one, then
  BN and ReLU (the factorisation that keeps OSNet small);
- an **omni-scale residual block**: 1x1 conv + BN + ReLU down to a quarter of the output width,
  T = 4 streams of 1, 2, 3 and 4 lightweight 3x3 convolutions (receptive fields 3, 5, 7 and 9),
  a **unified aggregation gate** (global average pooling, FC to 1/16, ReLU, FC back, sigmoid)
  whose weights are *shared by the four streams* and whose channel-wise gates weight each stream
  before they are summed, a 1x1 conv + BN back to the output width, and an identity (or 1x1 conv
  + BN projection) shortcut, added then ReLU;
- the **network** (ICCV'19 Table 1): conv1 7x7/2 + BN + ReLU, 3x3/2 max pool, three stages of two
  blocks (64 -> 256 -> 384 -> 512 channels at width x1.0), the first two stages followed by a
  transition (1x1 conv + BN + ReLU, 2x2/2 average pool), and conv5 (1x1 conv + BN + ReLU). The
  final map is 1/16 of the input (16x8 at 256x128): OSNet has no "last stride" to remove. The
  paper's width multiplier beta scales every width (x0.75, x0.5, x0.25);
- **OSNet-IBN** (ICCV'19, cross-domain): instance normalisation after the residual sum of the
  blocks of the first stage, and in conv1;
- **OSNet-AIN** (TPAMI): the architecture found by the paper's instance-normalisation search:
  conv1 normalised by IN, and blocks whose residual branch ends in IN (instead of conv3's BN)
  placed, stage by stage, as [IN, IN], [plain, IN], [IN, plain].

The 512-d fully connected layer that follows global pooling in the papers (FC + BN + ReLU) is the
re-ID head's business here: ``ReidNet(embedding_dim=512)`` gives the same number of parameters
(an embedding FC and the BNNeck); the trunk ends at conv5's map so any pooling or PCB can follow.

Parameter names follow Torchreid's released models (``conv1.conv.weight``,
``conv2.0.conv2a.conv1.weight`` ... for OSNet, ``conv2.0.conv2.0.layers.0.conv1.weight`` and
``pool2.0.conv.weight`` for OSNet-AIN), so its model-zoo files load key for key; its ``fc.*`` and
``classifier.*`` tensors have no counterpart in the trunk and are reported as unused.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from attrs import frozen
from torch import nn

# The papers' widths: conv1, then the output of each of the three stages (= conv5's width).
WIDTHS: dict[str, tuple[int, int, int, int]] = {
    "x1_0": (64, 256, 384, 512),
    "x0_75": (48, 192, 288, 384),
    "x0_5": (32, 128, 192, 256),
    "x0_25": (16, 64, 96, 128),
}

STREAMS = 4  # T: streams of 1..T lightweight convolutions
BOTTLENECK = 4  # the block's inner width is its output width / 4
GATE_REDUCTION = 16  # the aggregation gate's hidden width is its input width / 16


@frozen
class OSNetSpec:
    """One OSNet variant: widths, and where instance normalisation goes.

    ``block_in[s][b]``: where block b of stage s normalises by IN: ``None`` (plain block),
    ``"after"`` (OSNet-IBN: IN after the residual sum) or ``"inside"`` (OSNet-AIN: IN ends the
    residual branch). ``ain_names``: Torchreid's OSNet-AIN module layout (streams in a list, the
    transitions as ``pool2``/``pool3``) rather than the ICCV one (``conv2a``..``conv2d``, the
    transitions as the stages' last module)."""

    widths: tuple[int, int, int, int]
    conv1_in: bool
    block_in: tuple[tuple[str | None, ...], ...]
    ain_names: bool


def osnet_spec(name: str) -> OSNetSpec:
    """``osnet_x1_0`` .. ``osnet_x0_25``, ``osnet_ibn_x1_0``, ``osnet_ain_x1_0`` .. ``osnet_ain_x0_25``."""
    family, _, width = name.rpartition("_x")
    width = f"x{width}"
    if width not in WIDTHS or family not in ("osnet", "osnet_ibn", "osnet_ain"):
        raise ValueError(f"not an OSNet name: {name!r}")
    if family == "osnet":
        return OSNetSpec(WIDTHS[width], False, ((None, None),) * 3, ain_names=False)
    if family == "osnet_ibn":
        if width != "x1_0":
            raise ValueError(f"OSNet-IBN is defined at width x1.0 only, got {name!r}")
        return OSNetSpec(WIDTHS[width], True, (("after", "after"), (None, None), (None, None)), ain_names=False)
    return OSNetSpec(WIDTHS[width], True, (("inside", "inside"), (None, "inside"), ("inside", None)), ain_names=True)


OSNET_NAMES = tuple(
    [f"osnet_{w}" for w in WIDTHS] + ["osnet_ibn_x1_0"] + [f"osnet_ain_{w}" for w in WIDTHS]
)


class ConvNormAct(nn.Module):
    """conv (no bias) -> BN (or IN) -> optional ReLU; attributes ``conv``/``bn``/``relu``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        *,
        stride: int = 1,
        instance_norm: bool = False,
        activation: bool = True,
        norm: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False)
        if not norm:
            self.bn = None
        elif instance_norm:
            self.bn = nn.InstanceNorm2d(out_channels, affine=True)
        else:
            self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU() if activation else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.relu(x) if self.relu is not None else x


class LightConv3x3(nn.Module):
    """Pointwise 1x1 then depthwise 3x3 (both linear), then BN and ReLU."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 1, bias=False)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv2(self.conv1(x))))


class LightConvStream(nn.Module):
    """``depth`` lightweight 3x3 convolutions in a row (OSNet-AIN's naming: ``layers``)."""

    def __init__(self, channels: int, depth: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(*(LightConv3x3(channels) for _ in range(depth)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class AggregationGate(nn.Module):
    """Channel-wise gates from the input itself: GAP -> 1x1 conv (C/16) -> ReLU -> 1x1 conv (C)
    -> sigmoid; returns the input scaled by its gates. One gate serves every stream of a block."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = channels // GATE_REDUCTION
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=True)
        self.relu = nn.ReLU()
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gates = torch.sigmoid(self.fc2(self.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))
        return x * gates


class OmniScaleBlock(nn.Module):
    """The omni-scale residual block; ``instance_norm`` None, ``"after"`` or ``"inside"``."""

    def __init__(self, in_channels: int, out_channels: int, *, instance_norm: str | None, ain_names: bool) -> None:
        super().__init__()
        if out_channels % BOTTLENECK:
            raise ValueError(f"an omni-scale block's width must be a multiple of {BOTTLENECK}, got {out_channels}")
        mid = out_channels // BOTTLENECK
        self.conv1 = ConvNormAct(in_channels, mid)
        self.ain_names = ain_names
        if ain_names:
            self.conv2 = nn.ModuleList(LightConvStream(mid, depth) for depth in range(1, STREAMS + 1))
        else:
            self.conv2a = LightConv3x3(mid)
            self.conv2b = nn.Sequential(*(LightConv3x3(mid) for _ in range(2)))
            self.conv2c = nn.Sequential(*(LightConv3x3(mid) for _ in range(3)))
            self.conv2d = nn.Sequential(*(LightConv3x3(mid) for _ in range(4)))
        self.gate = AggregationGate(mid)
        inside = instance_norm == "inside"
        # OSNet-AIN's IN-inside blocks end the branch with IN where the others have conv3's BN.
        self.conv3 = ConvNormAct(mid, out_channels, activation=False, norm=not inside)
        self.downsample = (
            ConvNormAct(in_channels, out_channels, activation=False) if in_channels != out_channels else None
        )
        self.instance_norm = instance_norm
        self.IN = nn.InstanceNorm2d(out_channels, affine=True) if instance_norm else None

    def streams(self) -> Sequence[nn.Module]:
        """The T streams, shortest first (looked up by name: a converted layer stays in use)."""
        if self.ain_names:
            return tuple(self.conv2)
        return (self.conv2a, self.conv2b, self.conv2c, self.conv2d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        x1 = self.conv1(x)
        aggregated = sum(self.gate(stream(x1)) for stream in self.streams())
        branch = self.conv3(aggregated)
        if self.instance_norm == "inside":
            branch = self.IN(branch)
        out = branch + shortcut
        if self.instance_norm == "after":
            out = self.IN(out)
        return F.relu(out)


def _transition(channels: int) -> nn.Sequential:
    """1x1 conv + BN + ReLU, then 2x2 average pooling with stride 2."""
    return nn.Sequential(ConvNormAct(channels, channels), nn.AvgPool2d(2, stride=2))


class OSNetTrunk(nn.Module):
    """conv1 .. conv5 of an OSNet; ``out_channels`` is conv5's width; the map is 1/16 of the input."""

    def __init__(self, spec: OSNetSpec) -> None:
        super().__init__()
        c0, c1, c2, c3 = spec.widths
        self.conv1 = ConvNormAct(3, c0, 7, stride=2, instance_norm=spec.conv1_in)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        stages = []
        for index, (cin, cout) in enumerate(((c0, c1), (c1, c2), (c2, c3))):
            blocks = [
                OmniScaleBlock(cin if b == 0 else cout, cout, instance_norm=where, ain_names=spec.ain_names)
                for b, where in enumerate(spec.block_in[index])
            ]
            if index < 2 and not spec.ain_names:
                blocks.append(_transition(cout))  # ICCV naming: the transition is the stage's last module
            stages.append(nn.Sequential(*blocks))
        self.conv2, self.conv3, self.conv4 = stages
        if spec.ain_names:
            self.pool2, self.pool3 = _transition(c1), _transition(c2)
        else:
            self.pool2 = self.pool3 = None
        self.conv5 = ConvNormAct(c3, c3)
        self.out_channels = c3
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.conv2(x)
        if self.pool2 is not None:
            x = self.pool2(x)
        x = self.conv3(x)
        if self.pool3 is not None:
            x = self.pool3(x)
        return self.conv5(self.conv4(x))


def _init(module: nn.Module) -> None:
    # He (fan_out) for convolutions, unit scale / zero shift for every normalisation: the papers'
    # (and Torchreid's) initialisation.
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def build_osnet_trunk(name: str) -> OSNetTrunk:
    """A randomly initialised OSNet trunk by its Torchreid name (see :data:`OSNET_NAMES`)."""
    return OSNetTrunk(osnet_spec(name))

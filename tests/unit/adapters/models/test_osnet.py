"""OSNet trunks: the papers' parameter counts, the omni-scale block's structure, where each variant
puts instance normalisation, output shapes, Torchreid's parameter names and a training step."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reidkit.adapters.models.backbone import build_reid_model
from reidkit.adapters.models.osnet import OSNET_NAMES, AggregationGate, LightConv3x3, OmniScaleBlock, build_osnet_trunk
from tests.support.models import SIZES, parameter_count, train_steps

# Zhou et al., ICCV 2019, Table 1 (OSNet at 256x128: conv1 .. conv5, global pooling and the 512-d
# fc layer; "# params 2.2M") and the width-multiplier table (beta = 0.75, 0.5, 0.25: 1.3M, 0.6M,
# 0.2M); Torchreid's model zoo lists the same sizes. OSNet-AIN (TPAMI 2021) keeps OSNet's size:
# IN replaces BN one for one. The papers round to 0.1M.
PAPER_MILLIONS = {
    "osnet_x1_0": 2.2,
    "osnet_x0_75": 1.3,
    "osnet_x0_5": 0.6,
    "osnet_x0_25": 0.2,
    "osnet_ibn_x1_0": 2.2,
    "osnet_ain_x1_0": 2.2,
}


@pytest.mark.parametrize("name", sorted(PAPER_MILLIONS))
def test_parameter_counts_equal_the_papers(name):
    # The papers' fc (512-d linear + BN) is ReidNet's embedding layer + BNNeck: same parameters.
    model = build_reid_model(name, num_classes=0, embedding_dim=512)
    assert round(parameter_count(model) / 1e6, 1) == PAPER_MILLIONS[name]


@pytest.fixture(scope="module")
def x1_0() -> nn.Module:
    torch.manual_seed(0)
    return build_osnet_trunk("osnet_x1_0").eval()


def test_final_map_is_a_sixteenth_of_the_input_at_every_size():
    for name, channels in (("osnet_x1_0", 512), ("osnet_x0_75", 384), ("osnet_x0_5", 256), ("osnet_x0_25", 128),
                           ("osnet_ibn_x1_0", 512), ("osnet_ain_x1_0", 512)):  # fmt: skip
        trunk = build_osnet_trunk(name).eval()
        assert trunk.out_channels == channels
        with torch.no_grad():
            for height, width in SIZES:
                assert trunk(torch.randn(2, 3, height, width)).shape == (2, channels, height // 16, width // 16)


def test_omni_scale_block_has_four_streams_and_one_shared_gate(x1_0):
    block = x1_0.conv2[0]
    assert isinstance(block, OmniScaleBlock)
    # Streams of 1..4 lightweight 3x3 convolutions: receptive fields 3, 5, 7, 9.
    assert [sum(isinstance(m, LightConv3x3) for m in s.modules()) for s in block.streams()] == [1, 2, 3, 4]
    assert sum(isinstance(m, AggregationGate) for m in block.modules()) == 1
    # The bottleneck is a quarter of the output width; the gate's hidden layer 1/16 of that.
    assert block.conv1.conv.out_channels == 64 and block.gate.fc1.out_channels == 4
    # Lightweight 3x3 = pointwise then depthwise.
    light = block.conv2a
    assert light.conv1.kernel_size == (1, 1) and light.conv2.groups == light.conv2.in_channels == 64


def test_gate_weights_each_stream_by_its_own_content():
    torch.manual_seed(0)
    gate = AggregationGate(32)
    a, b = torch.randn(1, 32, 4, 4), torch.randn(1, 32, 4, 4) * 3
    gates_a = gate(a) / a
    # One gate per channel, in (0, 1), and different inputs get different gates.
    assert torch.allclose(gates_a, gates_a[..., :1, :1].expand_as(gates_a), atol=1e-5)
    assert ((gates_a > 0) & (gates_a < 1)).all()
    assert not torch.allclose(gate(b) / b, gates_a, atol=1e-3)


def test_instance_normalisation_goes_where_each_variant_puts_it():
    plain = build_osnet_trunk("osnet_x1_0")
    assert not any(isinstance(m, nn.InstanceNorm2d) for m in plain.modules())
    ibn = build_osnet_trunk("osnet_ibn_x1_0")
    assert isinstance(ibn.conv1.bn, nn.InstanceNorm2d)
    assert [b.instance_norm for b in ibn.conv2[:2]] == ["after", "after"]
    assert [b.instance_norm for b in (*ibn.conv3[:2], *ibn.conv4)] == [None] * 4
    ain = build_osnet_trunk("osnet_ain_x1_0")
    assert isinstance(ain.conv1.bn, nn.InstanceNorm2d)
    layout = [[b.instance_norm for b in stage] for stage in (ain.conv2, ain.conv3, ain.conv4)]
    assert layout == [["inside", "inside"], [None, "inside"], ["inside", None]]
    # An IN-inside block ends its residual branch with IN instead of conv3's BN.
    assert ain.conv2[0].conv3.bn is None and ain.conv3[0].conv3.bn is not None


# Names and shapes as Torchreid's models have them (torchreid/models/osnet.py, osnet_ain.py): a
# model-zoo file loads into the trunk key for key only if these are the trunk's.
TORCHREID_KEYS = {
    "osnet_x1_0": {
        "conv1.conv.weight": (64, 3, 7, 7),
        "conv1.bn.running_var": (64,),
        "conv2.0.conv1.conv.weight": (64, 64, 1, 1),
        "conv2.0.conv2a.conv1.weight": (64, 64, 1, 1),
        "conv2.0.conv2b.1.conv2.weight": (64, 1, 3, 3),
        "conv2.0.conv2d.3.bn.weight": (64,),
        "conv2.0.gate.fc1.weight": (4, 64, 1, 1),
        "conv2.0.gate.fc2.bias": (64,),
        "conv2.0.conv3.conv.weight": (256, 64, 1, 1),
        "conv2.0.downsample.conv.weight": (256, 64, 1, 1),
        "conv2.2.0.conv.weight": (256, 256, 1, 1),
        "conv3.0.conv1.conv.weight": (96, 256, 1, 1),
        "conv4.1.conv2d.3.conv2.weight": (128, 1, 3, 3),
        "conv5.conv.weight": (512, 512, 1, 1),
    },
    "osnet_ain_x1_0": {
        "conv1.bn.weight": (64,),  # InstanceNorm2d(affine): weight and bias, no running stats
        "conv2.0.conv2.0.layers.0.conv1.weight": (64, 64, 1, 1),
        "conv2.0.conv2.3.layers.3.conv2.weight": (64, 1, 3, 3),
        "conv2.0.IN.weight": (256,),
        "pool2.0.conv.weight": (256, 256, 1, 1),
        "pool3.0.bn.weight": (384,),
        "conv3.0.conv3.bn.weight": (384,),
        "conv4.1.conv3.bn.running_mean": (512,),
        "conv5.bn.weight": (512,),
    },
}


@pytest.mark.parametrize("name", sorted(TORCHREID_KEYS))
def test_parameter_names_are_torchreids(name):
    shapes = {k: tuple(v.shape) for k, v in build_osnet_trunk(name).state_dict().items()}
    for key, shape in TORCHREID_KEYS[name].items():
        assert shapes.get(key) == shape, key
    if name == "osnet_ain_x1_0":
        assert "conv2.0.conv3.bn.weight" not in shapes and "conv1.bn.running_mean" not in shapes


@pytest.mark.parametrize("name", ["osnet_x1_0", "osnet_ain_x1_0"])
def test_a_training_step_on_the_tiny_preset(name):
    torch.manual_seed(0)
    model = build_reid_model(name, num_classes=4, last_stride=2)
    before = model.trunk.conv1.conv.weight.detach().clone()
    reports = train_steps(model)
    assert all(torch.isfinite(torch.tensor(list(r.values()))).all() for r in reports)
    assert not torch.equal(before, model.trunk.conv1.conv.weight)

"""ResNet-IBN-a trunks: IN in half the channels after the first conv of every block of layers 1-3,
ResNet's parameter count, the IBN-Net release's names, output shapes and a training step."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from reidkit.adapters.models.backbone import build_reid_model
from reidkit.adapters.models.ibn import IBN, build_resnet_ibn_a_trunk
from tests.support.models import SIZES, parameter_count, train_steps

# IBN-a adds no parameters (Pan et al., ECCV 2018: IN's affine parameters replace BN's for the
# same channels), so IBN-ResNet-50-a has ResNet-50's 25.6M and IBN-ResNet-101-a ResNet-101's
# 44.5M (with the 1000-way ImageNet classifier, as the papers count them; 0.1M rounding).
PAPER_MILLIONS = {"resnet50_ibn_a": (25.6, torchvision.models.resnet50), "resnet101_ibn_a": (44.5, torchvision.models.resnet101)}


@pytest.mark.parametrize("name", sorted(PAPER_MILLIONS))
def test_parameter_count_is_resnets(name):
    millions, resnet = PAPER_MILLIONS[name]
    trunk = build_resnet_ibn_a_trunk(name)
    with_classifier = parameter_count(trunk) + trunk.out_channels * 1000 + 1000
    assert with_classifier == parameter_count(resnet(weights=None))
    assert round(with_classifier / 1e6, 1) == millions


def test_ibn_layers_sit_in_layers_1_to_3_only():
    trunk = build_resnet_ibn_a_trunk("resnet50_ibn_a")
    for layer, planes in (("layer1", 64), ("layer2", 128), ("layer3", 256)):
        for block in getattr(trunk, layer):
            assert isinstance(block.bn1, IBN)
            assert block.bn1.IN.num_features == planes // 2 and block.bn1.BN.num_features == planes // 2
            assert isinstance(block.bn2, nn.BatchNorm2d)
    assert all(isinstance(block.bn1, nn.BatchNorm2d) for block in trunk.layer4)
    assert isinstance(trunk.bn1, nn.BatchNorm2d)


def test_ibn_normalises_one_half_per_instance_and_the_other_per_batch():
    torch.manual_seed(0)
    ibn = IBN(8).train()
    x = torch.randn(4, 8, 5, 5) * 3 + torch.arange(4.0)[:, None, None, None]  # each sample shifted
    out = ibn(x)
    per_instance = out[:, :4].mean(dim=(2, 3))
    assert per_instance.abs().max() < 1e-5  # every sample's IN channels are centred on their own
    per_batch = out[:, 4:].mean(dim=(0, 2, 3))
    assert per_batch.abs().max() < 1e-5 and out[:, 4:].mean(dim=(2, 3)).abs().max() > 0.1


def test_parameter_names_are_the_ibn_net_releases():
    shapes = {k: tuple(v.shape) for k, v in build_resnet_ibn_a_trunk("resnet50_ibn_a").state_dict().items()}
    # ibnnet/resnet_ibn.py (IBN-Net v1.0 release), fast-reid and Torchreid name them so.
    for key, shape in {
        "conv1.weight": (64, 3, 7, 7),
        "layer1.0.bn1.IN.weight": (32,),
        "layer1.0.bn1.BN.running_mean": (32,),
        "layer3.5.bn1.IN.bias": (128,),
        "layer4.0.bn1.weight": (512,),
        "layer4.2.conv3.weight": (2048, 512, 1, 1),
    }.items():
        assert shapes.get(key) == shape, key


def test_output_shapes_and_last_stride():
    trunk = build_resnet_ibn_a_trunk("resnet50_ibn_a", last_stride=1).eval()
    with torch.no_grad():
        for height, width in SIZES:
            assert trunk(torch.randn(2, 3, height, width)).shape == (2, 2048, height // 16, width // 16)
        deep = build_resnet_ibn_a_trunk("resnet101_ibn_a", last_stride=2).eval()
        assert deep(torch.randn(2, 3, 256, 128)).shape == (2, 2048, 8, 4)
    with pytest.raises(ValueError, match="IBN-a"):
        build_resnet_ibn_a_trunk("resnet18_ibn_a")


def test_a_training_step_on_the_tiny_preset():
    torch.manual_seed(0)
    model = build_reid_model("resnet50_ibn_a", num_classes=4, last_stride=2)
    before = model.trunk.layer1[0].bn1.IN.weight.detach().clone()
    reports = train_steps(model)
    assert all(torch.isfinite(torch.tensor(list(r.values()))).all() for r in reports)
    assert not torch.equal(before, model.trunk.layer1[0].bn1.IN.weight)

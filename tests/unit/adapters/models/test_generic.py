"""Generic timm / torchvision trunks: cut at the last feature map, the papers' sizes, the last
stride removed, the library's own files loading key for key, and a training step."""

from __future__ import annotations

import copy

import pytest
import timm
import torch
import torchvision

from reidkit.adapters.models.backbone import build_reid_model
from reidkit.adapters.models.dsbn import convert_dsbn, domains
from reidkit.adapters.models.generic import build_generic_trunk
from reidkit.adapters.models.weights import load_pretrained
from tests.support.models import SIZES, parameter_count, train_steps

# Name -> (trunk width, the paper's size in millions with the 1000-way classifier, tolerance).
# ResNeXt-50 32x4d 25.0M (Xie et al., CVPR 2017, Table 1); DenseNet-121 8.0M (Huang et al.,
# CVPR 2017); MobileNetV2 3.4M (Sandler et al., CVPR 2018, Table 4: torchvision's model, which
# Torchreid's mobilenetv2_x1_0 also follows, counts 3.50M; the paper's table lists 3.4M, hence the
# wider tolerance); ShuffleNetV2 1x 2.3M (Ma et al., ECCV 2018); SE-ResNet-50 28.1M (Hu et al.,
# CVPR 2018: ResNet-50's ~25M plus ~2.5M for the SE blocks).
MODELS = {
    "torchvision:resnext50_32x4d": (2048, 25.0, 0.05),
    "torchvision:densenet121": (1024, 8.0, 0.05),
    "torchvision:mobilenet_v2": (1280, 3.4, 0.15),
    "torchvision:shufflenet_v2_x1_0": (1024, 2.3, 0.05),
    "timm:seresnet50": (2048, 28.1, 0.05),
}


@pytest.fixture(scope="module")
def trunks() -> dict:
    torch.manual_seed(0)
    return {name: build_generic_trunk(name, last_stride=1) for name in MODELS}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_parameter_counts_equal_the_papers(trunks, name):
    channels, millions, tolerance = MODELS[name]
    trunk = trunks[name]
    assert trunk.out_channels == channels
    with_classifier = parameter_count(trunk) + channels * 1000 + 1000
    assert abs(with_classifier / 1e6 - millions) <= tolerance


@pytest.mark.parametrize("name", sorted(MODELS))
def test_last_stride_one_doubles_the_map_at_every_size(trunks, name):
    trunk = trunks[name].eval()
    with torch.no_grad():
        for height, width in SIZES:
            assert trunk(torch.randn(2, 3, height, width)).shape == (2, MODELS[name][0], height // 16, width // 16)
    strided = build_generic_trunk(name, last_stride=2).eval()
    with torch.no_grad():
        assert strided(torch.randn(2, 3, 256, 128)).shape[-2:] == (8, 4)


def test_torchvision_files_load_key_for_key(tmp_path, trunks):
    torch.manual_seed(1)
    densenet = torchvision.models.densenet121(weights=None)
    path = tmp_path / "densenet121.pth"
    torch.save(densenet.state_dict(), path)
    trunk = copy.deepcopy(trunks["torchvision:densenet121"])
    report = load_pretrained(trunk, path)
    assert report.format == "torchvision"
    assert set(report.unexpected) == {"classifier.weight", "classifier.bias"}
    assert not report.missing and not report.mismatched
    torch.testing.assert_close(trunk.features.denseblock4.denselayer16.conv2.weight, densenet.features.denseblock4.denselayer16.conv2.weight)


def test_timm_files_load_key_for_key(tmp_path, trunks):
    torch.manual_seed(1)
    seresnet = timm.create_model("seresnet50", pretrained=False)
    path = tmp_path / "seresnet50.pth"
    torch.save({"state_dict": seresnet.state_dict(), "epoch": 100}, path)  # a timm training checkpoint
    trunk = copy.deepcopy(trunks["timm:seresnet50"])
    report = load_pretrained(trunk, path)
    assert set(report.unexpected) == {"fc.weight", "fc.bias"}
    assert not report.missing and not report.mismatched
    torch.testing.assert_close(trunk.layer4[2].se.fc1.weight, seresnet.layer4[2].se.fc1.weight)


def test_converted_layers_stay_in_use_and_copies_work(trunks):
    # The torchvision trunk is an FX graph module: its code looks layers up at call time, so DSBN
    # (and SyncBN) conversions take effect, and the mean teachers' deepcopy works.
    model = build_reid_model("torchvision:mobilenet_v2", num_classes=3)
    convert_dsbn(model)
    teacher = copy.deepcopy(model)
    model.train()
    with domains(model, torch.tensor([0, 0, 1, 1])):
        out = model(torch.randn(4, 3, 64, 32))
    assert out.logits.shape == (4, 3)
    assert teacher.eval()(torch.randn(2, 3, 64, 32)).shape == (2, 1280)


def test_what_is_refused():
    with pytest.raises(ValueError, match="no model"):
        build_generic_trunk("timm:no_such_net")
    with pytest.raises(ValueError, match="no classification model"):
        build_generic_trunk("torchvision:no_such_net")
    with pytest.raises(ValueError, match="tokens"):
        build_generic_trunk("timm:vit_tiny_patch16_224")
    with pytest.raises(ValueError, match="nothing is downloaded"):
        build_generic_trunk("timm:resnet18", pretrained=True)
    with pytest.raises(ValueError, match="timm:<model>"):
        build_generic_trunk("keras:resnet50")


@pytest.mark.parametrize("name", ["torchvision:shufflenet_v2_x1_0", "timm:seresnet50"])
def test_a_training_step_on_the_tiny_preset(name):
    torch.manual_seed(0)
    model = build_reid_model(name, num_classes=4, last_stride=2)
    before = [p.detach().clone() for p in model.trunk.parameters()][0]
    reports = train_steps(model)
    assert all(torch.isfinite(torch.tensor(list(r.values()))).all() for r in reports)
    assert not torch.equal(before, next(model.trunk.parameters()))

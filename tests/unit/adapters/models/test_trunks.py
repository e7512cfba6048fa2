"""build_trunk: every name resolves to a trunk with ``out_channels``, options are checked per
family, and build_reid_model takes every name (the ResNets exactly as before)."""

from __future__ import annotations

import pytest
import torch

from reidkit.adapters.models.backbone import build_reid_model
from reidkit.adapters.models.trunk import build_resnet_trunk
from reidkit.adapters.models.trunks import TRUNK_NAMES, build_trunk, is_trunk_name

WIDTHS = {
    "resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048,
    "resnet50_ibn_a": 2048, "resnet101_ibn_a": 2048,
    "osnet_x1_0": 512, "osnet_x0_75": 384, "osnet_x0_5": 256, "osnet_x0_25": 128, "osnet_ibn_x1_0": 512,
    "osnet_ain_x1_0": 512, "osnet_ain_x0_75": 384, "osnet_ain_x0_5": 256, "osnet_ain_x0_25": 128,
    "vit_small_patch16": 384, "vit_base_patch16": 768,
}  # fmt: skip


def test_every_name_builds_a_trunk_of_its_width():
    assert set(TRUNK_NAMES) == set(WIDTHS)
    for name, width in WIDTHS.items():
        assert build_trunk(name).out_channels == width, name
        assert is_trunk_name(name)
    assert is_trunk_name("timm:resnet18") and is_trunk_name("torchvision:resnet18")
    assert not is_trunk_name("timm:") and not is_trunk_name("vgg16")


def test_resnets_are_the_existing_trunks_draw_for_draw():
    torch.manual_seed(3)
    new = build_trunk("resnet34", last_stride=2).state_dict()
    torch.manual_seed(3)
    old = build_resnet_trunk("resnet34", last_stride=2).state_dict()
    assert new.keys() == old.keys() and all(torch.equal(new[k], old[k]) for k in new)


def test_unknown_names_and_options_are_refused():
    with pytest.raises(ValueError, match="backbone must be one of .* or 'timm:<model>' / 'torchvision:<model>', got 'vgg16'"):
        build_trunk("vgg16")
    with pytest.raises(ValueError, match="no options"):
        build_trunk("resnet50", img_size=(256, 128))
    with pytest.raises(ValueError, match="no options"):
        build_trunk("osnet_x1_0", width=2)
    with pytest.raises(ValueError, match="takes the options"):
        build_trunk("vit_small_patch16", depth=6)
    with pytest.raises(ValueError, match="last_stride"):
        build_trunk("resnet50", last_stride=4)


def test_build_reid_model_takes_every_name_and_trunk_options():
    for name in ("resnet50_ibn_a", "osnet_ain_x0_25", "vit_small_patch16", "timm:resnet18", "torchvision:resnet18"):
        model = build_reid_model(name, num_classes=3, last_stride=2).eval()
        with torch.no_grad():
            assert model(torch.randn(2, 3, 64, 32)).shape == (2, model.feature_dim), name
    vit = build_reid_model("vit_small_patch16", num_classes=3, trunk_options={"patch_stride": 16, "output": "patches"})
    assert vit.trunk.grid == (16, 8) and not vit.trunk.global_token

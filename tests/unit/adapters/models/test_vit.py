"""ViT trunks: the papers' sizes, TransReID's overlapping patch grid, the CLS token as a 1x1 map,
position embeddings at other sizes, the ICS stem, and a training step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from reidkit.adapters.models.backbone import build_reid_model
from reidkit.adapters.models.vit import build_vit_trunk, infer_grid, resample_position_embeddings
from tests.support.models import SIZES, parameter_count, train_steps


@pytest.mark.parametrize("name,millions", [("vit_small_patch16", 22), ("vit_base_patch16", 86)])
def test_parameter_counts_equal_the_papers(name, millions):
    # ViT-S/16 (DeiT-S, Touvron et al. 2021, Table 1): 22M; ViT-B/16 (Dosovitskiy et al. 2021,
    # Table 1): 86M; both at 224x224 with plain 16x16 patches and the 1000-way head.
    trunk = build_vit_trunk(name, img_size=(224, 224), patch_stride=16)
    with_head = parameter_count(trunk) + trunk.out_channels * 1000 + 1000
    assert abs(with_head / 1e6 - millions) < 0.6


def test_the_reid_trunk_differs_only_by_its_position_embeddings(vit_s):
    # 1 + 21x10 positions at 256x128 with stride 12, instead of 1 + 14x14 at 224x224 with 16.
    imagenet = build_vit_trunk("vit_small_patch16", img_size=(224, 224), patch_stride=16)
    assert parameter_count(vit_s) - parameter_count(imagenet) == (211 - 197) * 384


@pytest.fixture(scope="module")
def vit_s():
    torch.manual_seed(0)
    return build_vit_trunk("vit_small_patch16", drop_path_rate=0.0).eval()


def test_overlapping_patches_give_transreids_grid(vit_s):
    assert vit_s.patch_stride == 12 and vit_s.grid == (21, 10)  # (256-16)/12+1, (128-16)/12+1
    assert vit_s.pos_embed.shape == (1, 1 + 21 * 10, 384)
    assert vit_s.grid_for(256, 128) == vit_s.grid and vit_s.grid_for(128, 64) == (10, 5)
    with pytest.raises(ValueError, match="patch_stride"):
        build_vit_trunk("vit_small_patch16", patch_stride=20)


def test_cls_output_is_a_one_by_one_map_at_every_size(vit_s):
    with torch.no_grad():
        for height, width in SIZES:
            assert vit_s(torch.randn(2, 3, height, width)).shape == (2, 384, 1, 1)
    assert vit_s.global_token


def test_patch_output_is_the_token_grid():
    trunk = build_vit_trunk("vit_small_patch16", output="patches").eval()
    with torch.no_grad():
        for height, width in SIZES:
            assert trunk(torch.randn(2, 3, height, width)).shape == (2, 384, *trunk.grid_for(height, width))
    assert trunk.grid_for(64, 32) == (5, 2)


def test_reidnet_on_the_cls_token_is_transreids_global_branch(vit_s):
    model = build_reid_model("vit_small_patch16", num_classes=5, trunk_options={"drop_path_rate": 0.0}).eval()
    x = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        token = model.trunk(x).flatten(1)
        # Average pooling of the 1x1 map is the token itself; the BNNeck follows it.
        torch.testing.assert_close(model.pool(model.trunk(x)), token)
        torch.testing.assert_close(model(x), model.neck(token))
    with pytest.raises(ValueError, match="CLS"):
        build_reid_model("vit_small_patch16", num_classes=5, pooling="gem")
    with pytest.raises(ValueError, match="CLS"):
        build_reid_model("vit_small_patch16", num_classes=5, head="pcb")
    pcb = build_reid_model("vit_small_patch16", num_classes=5, head="pcb", trunk_options={"output": "patches"})
    assert pcb.train()(torch.randn(2, 3, 64, 32)).logits.shape == (2, 6, 5)


def test_input_size_sets_the_position_grid():
    model = build_reid_model("vit_small_patch16", num_classes=0, input_size=(128, 64))
    assert model.trunk.img_size == (128, 64) and model.trunk.grid == (10, 5)


def test_position_embeddings_are_resampled_for_another_input(vit_s):
    assert vit_s.position_embeddings(21, 10) is vit_s.pos_embed
    small = vit_s.position_embeddings(5, 2)
    assert small.shape == (1, 11, 384)
    torch.testing.assert_close(small[:, :1], vit_s.pos_embed[:, :1])  # the CLS position is kept
    grid = vit_s.pos_embed[:, 1:].reshape(1, 21, 10, 384).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(5, 2), mode="bilinear", align_corners=False).permute(0, 2, 3, 1).reshape(1, 10, 384)
    torch.testing.assert_close(small[:, 1:], expected)
    same = resample_position_embeddings(vit_s.pos_embed, (21, 10), (21, 10))
    torch.testing.assert_close(same, vit_s.pos_embed)


def test_a_files_grid_is_inferred_from_its_patch_count():
    assert infer_grid(196, (21, 10)) == (14, 14)  # ImageNet 224 / 16
    assert infer_grid(128, (21, 10)) == (16, 8)  # 256x128 at stride 16 (TransReID-SSL, PASS)
    assert infer_grid(210, (16, 8)) == (21, 10)  # 256x128 at stride 12
    assert infer_grid(0, (16, 8)) is None


def test_ics_stem_has_transreid_ssl_names_and_the_same_grid():
    trunk = build_vit_trunk("vit_small_patch16", stem="ics", patch_stride=16).eval()
    shapes = {k: tuple(v.shape) for k, v in trunk.state_dict().items()}
    assert shapes["patch_embed.conv.0.weight"] == (64, 3, 7, 7)
    assert shapes["patch_embed.conv.1.IN.weight"] == (32,)
    assert shapes["patch_embed.conv.7.running_mean"] == (64,)
    assert shapes["patch_embed.proj.weight"] == (384, 64, 8, 8)
    with torch.no_grad():
        assert trunk(torch.randn(2, 3, 256, 128)).shape == (2, 384, 1, 1)
    assert trunk.grid == (16, 8)


def test_a_training_step_on_the_tiny_preset():
    torch.manual_seed(0)
    model = build_reid_model("vit_small_patch16", num_classes=4)
    before = model.trunk.pos_embed.detach().clone()
    reports = train_steps(model)
    assert all(torch.isfinite(torch.tensor(list(r.values()))).all() for r in reports)
    assert not torch.equal(before, model.trunk.pos_embed)  # trained through the resampling

"""load_pretrained: partial loads are reported, nothing-matching files and unsafe pickles refused, and
the formats users have (torchvision, timm, Torchreid, IBN-Net, DINO/TransReID-SSL/PASS, TransReID)
are read with their keys renamed, from checkpoints fabricated with the real files' names."""

from __future__ import annotations

import argparse
from collections import OrderedDict

import numpy as np
import pytest
import structlog
import structlog.testing
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from reidkit.adapters.models.backbone import build_reid_model
from reidkit.adapters.models.weights import detect_format, load_pretrained, read_state_dict
from reidkit.domain.errors import CheckpointError


def small() -> nn.Module:
    return nn.Sequential(OrderedDict(conv=nn.Conv2d(3, 4, 3), bn=nn.BatchNorm2d(4), fc=nn.Linear(4, 2)))


def test_report_lists_missing_unexpected_and_mismatched(tmp_path):
    source = small()
    state = source.state_dict()
    state.pop("bn.weight")  # missing
    state["head.weight"] = torch.zeros(3)  # unexpected
    state["fc.weight"] = torch.zeros(5, 4)  # shape mismatch
    path = tmp_path / "w.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, path)

    target = small()
    with structlog.testing.capture_logs() as logs:
        report = load_pretrained(target, path)

    assert report.missing == ("bn.weight",)
    assert report.unexpected == ("head.weight",)
    assert [(m.name, m.file_shape, m.model_shape) for m in report.mismatched] == [("fc.weight", (5, 4), (2, 4))]
    assert "conv.weight" in report.loaded and "fc.bias" in report.loaded
    torch.testing.assert_close(target.conv.weight, source.conv.weight)
    assert not report.complete
    [entry] = logs
    assert entry["log_level"] == "warning"  # an incomplete load is never silent
    assert "shape mismatches: fc.weight file [5, 4] vs model [2, 4]" in entry["report"]
    assert "missing from file: bn.weight" in entry["report"]


def test_complete_load_with_model_key_and_no_prefix(tmp_path):
    source = small()
    path = tmp_path / "w.pth"
    torch.save({"model": source.state_dict()}, path)
    report = load_pretrained(small(), path)
    assert report.complete and len(report.loaded) == len(source.state_dict())


def test_torchvision_file_goes_into_the_reidnet_trunk(tmp_path):
    torch.manual_seed(0)
    imagenet = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(imagenet.state_dict(), path)

    model = build_reid_model("resnet18", num_classes=4, pretrained=str(path))
    torch.testing.assert_close(model.trunk.layer4[1].conv2.weight, imagenet.layer4[1].conv2.weight)

    report = load_pretrained(build_reid_model("resnet18", num_classes=4), path)
    assert set(report.unexpected) == {"fc.weight", "fc.bias"}
    assert not report.missing and not report.mismatched


def test_file_matching_nothing_raises_naming_the_file(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"encoder.block.weight": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match=r"other\.pth: none of its 1 tensors match"):
        load_pretrained(small(), path)


class NotWeights:
    pass


def test_non_weights_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"conv.weight": torch.zeros(1), "thing": NotWeights()}, path)
    with pytest.raises(CheckpointError, match="refusing to unpickle") as err:
        read_state_dict(path)
    assert "\n" not in str(err.value)


def test_missing_and_damaged_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_state_dict(tmp_path / "absent.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a zip archive")
    with pytest.raises(CheckpointError, match="not a readable torch weights file"):
        read_state_dict(bad)


# --- the formats users have: each file fabricated with its keys named as the real files name them


def _trunk_tensors_equal(trunk: nn.Module, state: dict, rename=lambda k: k) -> None:
    own = trunk.state_dict()
    for key, value in state.items():
        if rename(key) in own and own[rename(key)].shape == value.shape:
            torch.testing.assert_close(own[rename(key)], value, msg=key)


def test_torchreid_model_zoo_files_load_into_the_osnet_trunk(tmp_path):
    from reidkit.adapters.models.osnet import build_osnet_trunk

    # Torchreid's OSNet files: DataParallel's "module.", the 512-d fc and the classifier, under
    # "state_dict" with the epoch and a numpy rank-1 (a training checkpoint, model.pth.tar-150).
    torch.manual_seed(1)
    source = build_osnet_trunk("osnet_x1_0").state_dict()
    head = {
        "fc.0.weight": torch.randn(512, 512), "fc.0.bias": torch.randn(512), "fc.1.weight": torch.randn(512),
        "fc.1.bias": torch.randn(512), "fc.1.running_mean": torch.randn(512), "fc.1.running_var": torch.rand(512),
        "fc.1.num_batches_tracked": torch.tensor(7), "classifier.weight": torch.randn(751, 512), "classifier.bias": torch.randn(751),
    }  # fmt: skip
    file = {f"module.{k}": v for k, v in (source | head).items()}
    path = tmp_path / "osnet_x1_0_market.pth.tar-150"
    torch.save({"state_dict": file, "epoch": 150, "rank1": np.float64(0.942), "optimizer": {"state": {}, "param_groups": []}}, path)
    torch.manual_seed(2)
    model = build_reid_model("osnet_x1_0", num_classes=751, pretrained=str(path))
    _trunk_tensors_equal(model.trunk, source)
    report = load_pretrained(build_reid_model("osnet_x1_0", num_classes=751), path)
    assert report.format == "torchreid"
    assert set(report.unexpected) == set(head) and not report.missing and not report.mismatched


def test_torchreid_resnet_checkpoint_keeps_its_classifier_out(tmp_path):
    torch.manual_seed(1)
    resnet = torchvision.models.resnet50(weights=None).state_dict()
    resnet.pop("fc.weight"), resnet.pop("fc.bias")
    file = {f"module.{k}": v for k, v in resnet.items()} | {"module.classifier.weight": torch.randn(751, 2048), "module.classifier.bias": torch.randn(751)}
    path = tmp_path / "resnet50_market.pth"
    torch.save({"state_dict": file, "epoch": 60}, path)
    report = load_pretrained(build_reid_model("resnet50", num_classes=751), path)
    # Its classifier (with a bias, on the pooled 2048-d features) is not ReidNet's (bias-free,
    # after the BNNeck): the trunk loads, the head is reported unused.
    assert report.format == "torchreid" and set(report.unexpected) == {"classifier.weight", "classifier.bias"}
    assert not report.missing


def test_ibn_net_release_loads_key_for_key(tmp_path):
    from reidkit.adapters.models.ibn import build_resnet_ibn_a_trunk

    torch.manual_seed(1)
    release = build_resnet_ibn_a_trunk("resnet50_ibn_a").state_dict() | {"fc.weight": torch.randn(1000, 2048), "fc.bias": torch.randn(1000)}
    path = tmp_path / "resnet50_ibn_a-d9d0bb7b.pth"
    torch.save(release, path)  # the v1.0 release: a bare state dict, ibnnet/resnet_ibn.py's names
    trunk = build_resnet_ibn_a_trunk("resnet50_ibn_a")
    report = load_pretrained(trunk, path)
    assert report.format == "ibn_net" and set(report.unexpected) == {"fc.weight", "fc.bias"} and not report.missing
    _trunk_tensors_equal(trunk, release)


def _old_ibn_release() -> dict[str, torch.Tensor]:
    """IBN-Net's old resnet50_ibn_a (resnet_ibn_a_old.py, the paper's numbers): in layers 1-3 each
    block's conv1 + bn1 is ``convbnin``: conv1 -> BN on the first half of the channels, conv2 ->
    IN on the second half; "module." from DataParallel, under "state_dict"."""
    gen = torch.Generator().manual_seed(3)
    state = dict(torchvision.models.resnet50(weights=None).state_dict())
    for layer, planes, blocks in (("layer1", 64, 3), ("layer2", 128, 4), ("layer3", 256, 6)):
        for b in range(blocks):
            block = f"{layer}.{b}"
            conv1 = state.pop(f"{block}.conv1.weight")
            for key in [k for k in state if k.startswith(f"{block}.bn1.")]:
                state.pop(key)
            half = planes // 2
            state[f"{block}.convbnin.conv1.weight"] = torch.randn(half, conv1.shape[1], 1, 1, generator=gen)
            state[f"{block}.convbnin.conv2.weight"] = torch.randn(half, conv1.shape[1], 1, 1, generator=gen)
            state[f"{block}.convbnin.BN.weight"] = torch.rand(half, generator=gen) + 0.5
            state[f"{block}.convbnin.BN.bias"] = torch.randn(half, generator=gen)
            state[f"{block}.convbnin.BN.running_mean"] = torch.randn(half, generator=gen)
            state[f"{block}.convbnin.BN.running_var"] = torch.rand(half, generator=gen) + 0.5
            state[f"{block}.convbnin.BN.num_batches_tracked"] = torch.tensor(100)
            state[f"{block}.convbnin.IN.weight"] = torch.rand(half, generator=gen) + 0.5
            state[f"{block}.convbnin.IN.bias"] = torch.randn(half, generator=gen)
            state[f"{block}.conv2.weight"] = torch.randn(planes, planes, 3, 3, generator=gen)
    return state


def test_old_ibn_net_layout_is_converted_exactly(tmp_path):
    from reidkit.adapters.models.ibn import build_resnet_ibn_a_trunk

    old = _old_ibn_release()
    path = tmp_path / "resnet50_ibn_a_old.pth.tar"
    torch.save({"state_dict": {f"module.{k}": v for k, v in old.items()}, "epoch": 100, "arch": "resnet50_ibn_a_old"}, path)
    trunk = build_resnet_ibn_a_trunk("resnet50_ibn_a").eval()
    report = load_pretrained(trunk, path)
    assert report.format == "ibn_net" and not report.missing and set(report.unexpected) == {"fc.weight", "fc.bias"}
    assert any("convbnin" in note for note in report.adapted)
    # The old block's first half: conv2(relu(cat(BN(convbnin.conv1 x), IN(convbnin.conv2 x)))),
    # computed from the file's tensors, equals the converted block's conv2(relu(bn1(conv1 x))).
    block, p = trunk.layer2[1], "layer2.1.convbnin."
    x = torch.randn(2, 512, 8, 4)
    bn = F.batch_norm(F.conv2d(x, old[p + "conv1.weight"]), old[p + "BN.running_mean"], old[p + "BN.running_var"],
                      old[p + "BN.weight"], old[p + "BN.bias"], training=False, eps=1e-5)  # fmt: skip
    inorm = F.instance_norm(F.conv2d(x, old[p + "conv2.weight"]), weight=old[p + "IN.weight"], bias=old[p + "IN.bias"], eps=1e-5)
    expected = F.conv2d(F.relu(torch.cat((bn, inorm), 1)), old["layer2.1.conv2.weight"], padding=1)
    with torch.no_grad():
        got = block.conv2(F.relu(block.bn1(block.conv1(x))))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def _timm_vit_small() -> dict[str, torch.Tensor]:
    import timm

    torch.manual_seed(1)
    return timm.create_model("vit_small_patch16_224", pretrained=False).state_dict()


def test_timm_vit_file_is_resampled_to_the_reid_grid(tmp_path):
    from reidkit.adapters.models.vit import build_vit_trunk

    imagenet = _timm_vit_small()  # timm's own names; pos_embed for 14x14 patches + CLS
    path = tmp_path / "vit_small_patch16_224.pth"
    torch.save({"model": imagenet}, path)  # DeiT's release nests it under "model"
    trunk = build_vit_trunk("vit_small_patch16")  # 256x128 at stride 12: 21x10
    report = load_pretrained(trunk, path)
    assert report.format == "timm" and set(report.unexpected) == {"head.weight", "head.bias"}
    assert not report.missing and not report.mismatched
    assert report.adapted == ("pos_embed: grid 14x14 -> 21x10 (bilinear)",)
    grid = imagenet["pos_embed"][:, 1:].reshape(1, 14, 14, 384).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(21, 10), mode="bilinear", align_corners=False).permute(0, 2, 3, 1).reshape(1, 210, 384)
    torch.testing.assert_close(trunk.pos_embed[:, 1:], expected)
    torch.testing.assert_close(trunk.pos_embed[:, :1], imagenet["pos_embed"][:, :1])
    torch.testing.assert_close(trunk.blocks[11].mlp.fc2.weight, imagenet["blocks.11.mlp.fc2.weight"])


def test_self_supervised_checkpoints_load_the_teachers_backbone(tmp_path):
    from reidkit.adapters.models.vit import build_vit_trunk

    # A DINO / TransReID-SSL checkpoint at 256x128, stride 16 (16x8 patches): both networks,
    # "backbone." before the ViT's names and the projection head beside it, the student under
    # DDP's "module.", the run's argparse.Namespace.
    teacher = {f"backbone.{k}": v for k, v in _timm_vit_small().items() if not k.startswith("head.")}
    teacher["backbone.pos_embed"] = torch.randn(1, 1 + 16 * 8, 384)
    teacher |= {"head.mlp.0.weight": torch.randn(2048, 384), "head.last_layer.weight_g": torch.randn(1, 256)}
    student = {f"module.{k}": torch.zeros_like(v) for k, v in teacher.items()}
    path = tmp_path / "vit_small_cfs_lup.pth"
    args = argparse.Namespace(arch="vit_small", lr=0.0005, out_dim=65536)
    torch.save({"student": student, "teacher": teacher, "epoch": 100, "args": args}, path)
    plain = build_vit_trunk("vit_small_patch16", patch_stride=16)
    report = load_pretrained(plain, path)
    assert report.format == "ssl_vit" and not report.missing and not report.mismatched
    assert set(report.unexpected) == {"head.mlp.0.weight", "head.last_layer.weight_g"}
    torch.testing.assert_close(plain.pos_embed, teacher["backbone.pos_embed"])  # the teacher's, unresampled
    overlapping = build_vit_trunk("vit_small_patch16")
    assert load_pretrained(overlapping, path).adapted[-1] == "pos_embed: grid 16x8 -> 21x10 (bilinear)"


def test_pass_checkpoints_join_their_cls_position(tmp_path):
    from reidkit.adapters.models.vit import build_vit_trunk

    # PASS (Zhu et al., ECCV 2022): the CLS position apart from the patch positions, and three part
    # tokens with their positions, which a plain ViT has no use for (reported unused).
    backbone = {k: v for k, v in _timm_vit_small().items() if not k.startswith("head.")}
    backbone["pos_embed"] = torch.randn(1, 16 * 8, 384)
    backbone["cls_pos"] = torch.randn(1, 1, 384)
    parts = {f"part_token{i}": torch.randn(1, 1, 384) for i in (1, 2, 3)} | {f"part{i}_pos": torch.randn(1, 1, 384) for i in (1, 2, 3)}
    path = tmp_path / "pass_vit_small_full.pth"
    torch.save({"teacher": {f"backbone.{k}": v for k, v in (backbone | parts).items()}}, path)
    trunk = build_vit_trunk("vit_small_patch16", patch_stride=16)
    report = load_pretrained(trunk, path)
    assert report.format == "ssl_vit" and set(report.unexpected) == set(parts) and not report.missing
    torch.testing.assert_close(trunk.pos_embed, torch.cat((backbone["cls_pos"], backbone["pos_embed"]), 1))


def test_fine_tuned_transreid_models_fill_trunk_neck_and_classifier(tmp_path):
    # TransReID's build_transformer saved under DataParallel: base (the ViT), bottleneck (the
    # BNNeck), classifier (bias-free); at 256x128 with overlapping patches (21x10).
    vit = {k: v for k, v in _timm_vit_small().items() if not k.startswith("head.")}
    vit["pos_embed"] = torch.randn(1, 1 + 21 * 10, 384)
    head = {"bottleneck.weight": torch.rand(384), "bottleneck.bias": torch.zeros(384), "bottleneck.running_mean": torch.randn(384),
            "bottleneck.running_var": torch.rand(384), "bottleneck.num_batches_tracked": torch.tensor(3),
            "classifier.weight": torch.randn(751, 384)}  # fmt: skip
    path = tmp_path / "transformer_120.pth"
    torch.save({f"module.base.{k}": v for k, v in vit.items()} | {f"module.{k}": v for k, v in head.items()}, path)
    model = build_reid_model("vit_small_patch16", num_classes=751)
    report = load_pretrained(model, path)
    assert report.format == "transreid" and report.complete
    torch.testing.assert_close(model.neck.running_mean, head["bottleneck.running_mean"])
    torch.testing.assert_close(model.classifier.weight, head["classifier.weight"])
    torch.testing.assert_close(model.trunk.pos_embed, vit["pos_embed"])
    # As a starting point (model.pretrained, loaded into the trunk) the head is reported unused.
    trunk_only = build_reid_model("vit_small_patch16", num_classes=10, pretrained=str(path))
    torch.testing.assert_close(trunk_only.trunk.norm.weight, vit["norm.weight"])


def test_formats_are_detected_and_can_be_forced(tmp_path):
    assert detect_format({"conv1.weight": torch.zeros(1), "fc.weight": torch.zeros(1)}) == "torchvision"
    assert detect_format({"trunk.conv1.weight": torch.zeros(1), "neck.weight": torch.zeros(1)}) == "reidkit"
    assert detect_format({"cls_token": torch.zeros(1), "blocks.0.norm1.weight": torch.zeros(1)}) == "timm"
    path = tmp_path / "w.pth"
    torch.save({"backbone.conv.weight": torch.ones(4, 3, 3, 3)}, path)
    report = load_pretrained(small(), path, format="ssl_vit")
    assert report.loaded == ("conv.weight",) and report.format == "ssl_vit"
    assert "(ssl_vit format)" in report.summary()
    with pytest.raises(ValueError, match="format"):
        load_pretrained(small(), path, format="caffe")


def test_safetensors_files_are_read_as_tensors_only(tmp_path):
    from safetensors.torch import save_file

    model = small()
    save_file({f"module.{k}": v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "w.safetensors"))
    state = read_state_dict(tmp_path / "w.safetensors")
    assert state.keys() == model.state_dict().keys()  # DataParallel's prefix stripped as for torch files
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match=r"bad\.safetensors is not a readable safetensors file"):
        read_state_dict(tmp_path / "bad.safetensors")

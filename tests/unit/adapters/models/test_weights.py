"""load_pretrained: partial loads are reported, nothing-matching files and unsafe pickles refused."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import structlog
import structlog.testing
import torch
import torchvision
from torch import nn

from reidkit.adapters.models.backbone import build_reid_model
from reidkit.adapters.models.weights import load_pretrained, read_state_dict
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

"""Exported networks give the torch network's features: ONNX through onnxruntime at any batch
size, TorchScript, and safetensors weights loaded strictly into a rebuilt network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reidkit.adapters.data.batch import TARGET_DOMAIN
from reidkit.adapters.models.backbone import build_reid_model
from reidkit.adapters.models.dsbn import convert_dsbn, fold_dsbn
from reidkit.adapters.models.export import FORMATS, export_network, exported_outputs

pytest.importorskip("onnxruntime")


def _trained_dsbn_net(backbone: str = "resnet18"):
    """A DSBN network whose target BNs hold statistics of their own (not the source's)."""
    torch.manual_seed(0)
    model = build_reid_model(backbone, num_classes=0, last_stride=2)
    convert_dsbn(model, num_domains=2, target_domain=TARGET_DOMAIN)
    from reidkit.adapters.models.dsbn import domains

    model.train()
    with torch.no_grad(), domains(model, [TARGET_DOMAIN] * 6):
        model(torch.randn(6, 3, 64, 32) * 2 + 0.5)
    return model.eval()


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_equals_the_torch_network_at_two_batch_sizes(tmp_path, fmt):
    dsbn = _trained_dsbn_net()
    plain = fold_dsbn(dsbn).eval()
    batch = torch.randn(4, 3, 64, 32)
    with torch.no_grad():
        expected = dsbn(batch).numpy()  # the target's BN, as evaluation uses
        np.testing.assert_allclose(plain(batch).numpy(), expected, atol=1e-6)
    path = tmp_path / f"model.{fmt}"
    export_network(plain, batch, path, fmt, {"profile": "method = 'supervised'"})
    rebuild = build_reid_model("resnet18", num_classes=0, last_stride=2) if fmt == "safetensors" else None
    for part in (batch, batch[:1], torch.randn(3, 3, 64, 32)):
        with torch.no_grad():
            want = plain(part).numpy()
        got = exported_outputs(path, fmt, part, rebuild)
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-4


def test_torchscript_and_safetensors_files_carry_the_metadata(tmp_path):
    plain = fold_dsbn(_trained_dsbn_net())
    batch = torch.randn(2, 3, 64, 32)
    export_network(plain, batch, tmp_path / "m.pt", "torchscript", {"profile": "P"})
    extra = {"reidkit/profile": ""}
    torch.jit.load(str(tmp_path / "m.pt"), _extra_files=extra)
    assert extra["reidkit/profile"] in ("P", b"P")
    export_network(plain, batch, tmp_path / "m.safetensors", "safetensors", {"profile": "P"})
    from safetensors import safe_open

    with safe_open(str(tmp_path / "m.safetensors"), framework="pt") as handle:
        assert handle.metadata() == {"profile": "P"}


def test_an_osnet_exports_to_onnx_too(tmp_path):
    torch.manual_seed(0)
    model = build_reid_model("osnet_x0_25", num_classes=0).eval()
    batch = torch.randn(2, 3, 64, 32)
    export_network(model, batch, tmp_path / "osnet.onnx", "onnx", {})
    with torch.no_grad():
        want = model(batch[:1]).numpy()
    assert np.abs(exported_outputs(tmp_path / "osnet.onnx", "onnx", batch[:1]) - want).max() <= 1e-4


def test_an_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="format must be one of onnx, torchscript, safetensors, got 'tflite'"):
        export_network(torch.nn.Identity(), torch.zeros(1), tmp_path / "x", "tflite", {})


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backbone", "options"),
    [("vit_small_patch16", {"input_size": (256, 128)}), ("resnet50", {"head": "pcb"}), ("osnet_ain_x1_0", {}), ("resnet50_ibn_a", {})],
)
def test_the_backbones_the_field_uses_export_to_onnx_at_any_batch_size(tmp_path, backbone, options):
    torch.manual_seed(0)
    model = build_reid_model(backbone, num_classes=0, **options).eval()
    batch = torch.randn(3, 3, 256, 128)
    export_network(model, batch, tmp_path / "m.onnx", "onnx", {})
    for part in (batch, batch[:1]):
        with torch.no_grad():
            want = model(part).numpy()
        assert np.abs(exported_outputs(tmp_path / "m.onnx", "onnx", part) - want).max() <= 1e-4

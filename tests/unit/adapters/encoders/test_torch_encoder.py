"""TorchFeatureEncoder over real (tiny) image files: order, flip TTA, normalisation, mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from reidkit.adapters.data.transforms import build_test_transform
from reidkit.adapters.encoders.torch_encoder import TorchFeatureEncoder
from reidkit.adapters.models.backbone import build_reid_model
from reidkit.domain.ports import FeatureEncoder
from reidkit.domain.types import ImageRecord


class HalvesModel(nn.Module):
    """Mean of the left half then the right half per channel: a flip swaps the two."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        return torch.cat([x[..., :half].mean(dim=(2, 3)), x[..., half:].mean(dim=(2, 3))], dim=1) * self.scale


@pytest.fixture
def records(tmp_path) -> list[ImageRecord]:
    out = []
    for i in range(5):
        pixels = np.zeros((8, 4, 3), dtype=np.uint8)
        pixels[:, :2] = 40 * i  # left half brighter for later images
        pixels[:, 2:] = 10
        path = tmp_path / f"{i}.png"
        Image.fromarray(pixels).save(path)
        out.append(ImageRecord(str(path), pid=i, camid=0))
    return out


def plain(tensor_image):
    return torch.from_numpy(np.asarray(tensor_image, dtype=np.float32)).permute(2, 0, 1) / 255.0


def test_rows_follow_record_order_and_progress_is_reported(records):
    calls = []
    encoder = TorchFeatureEncoder(HalvesModel(), plain, batch_size=2, progress=lambda d, t: calls.append((d, t)))
    assert isinstance(encoder, FeatureEncoder)
    features = encoder.encode(records)
    assert features.values.shape == (5, 6)
    np.testing.assert_allclose(features.values[:, 0], [40 * i / 255 for i in range(5)], rtol=1e-6)
    np.testing.assert_allclose(features.values[:, 3], 10 / 255, rtol=1e-6)
    assert calls == [(2, 5), (4, 5), (5, 5)]


def test_flip_averages_with_the_mirrored_image_and_normalize_gives_unit_rows(records):
    features = TorchFeatureEncoder(HalvesModel(), plain, flip_augment=True).encode(records).values
    np.testing.assert_allclose(features[:, :3], features[:, 3:], rtol=1e-6)  # left == right after TTA
    normed = TorchFeatureEncoder(HalvesModel(), plain, flip_augment=True, normalize=True).encode(records).values
    np.testing.assert_allclose(np.linalg.norm(normed, axis=1), 1.0, rtol=1e-5)


def test_restores_the_model_mode_and_works_with_reidnet(records):
    model = build_reid_model("resnet18", num_classes=3).train()
    encoder = TorchFeatureEncoder(model, build_test_transform(32, 16), batch_size=4)
    features = encoder.encode(records)
    assert features.values.shape == (5, 512) and features.values.dtype == np.float32
    assert model.training
    model.eval()
    encoder.encode(records[:1])
    assert not model.training


def test_empty_input_and_bad_options(records):
    assert len(TorchFeatureEncoder(HalvesModel(), plain).encode([])) == 0
    with pytest.raises(ValueError, match="batch_size"):
        TorchFeatureEncoder(HalvesModel(), plain, batch_size=0)


def test_model_returning_train_outputs_is_a_clear_error(records):
    class Pair(nn.Module):
        def forward(self, x):
            return x.mean(dim=(2, 3)), x.mean(dim=(2, 3))

    with pytest.raises(TypeError, match=r"Pair must return an \(N, D\) tensor"):
        TorchFeatureEncoder(Pair(), plain).encode(records)

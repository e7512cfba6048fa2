"""FeatureExtractor: paths, PIL images and arrays give the rows the record encoder gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from reidkit.adapters.data.transforms import build_test_transform
from reidkit.adapters.encoders.extractor import FeatureExtractor, to_pil
from reidkit.adapters.encoders.torch_encoder import TorchFeatureEncoder
from reidkit.adapters.models.backbone import build_reid_model
from reidkit.domain.errors import ImageLoadError
from reidkit.domain.types import ImageRecord


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(5):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (40 + i, 20, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def _extractor(batch_size: int = 2, normalize: bool = True) -> FeatureExtractor:
    torch.manual_seed(0)
    model = build_reid_model("resnet18", num_classes=0, last_stride=2).eval()
    return FeatureExtractor(TorchFeatureEncoder(model, build_test_transform(64, 32), batch_size=batch_size, normalize=normalize))


def test_paths_pil_images_and_arrays_give_the_same_rows_as_the_record_encoder(images):
    extractor = _extractor()
    from_paths = extractor(images)
    from_records = extractor.encode([ImageRecord(str(p), pid=1, camid=0) for p in images]).values
    from_pil = extractor([Image.open(p) for p in images])
    from_arrays = extractor([np.asarray(Image.open(p)) for p in images])
    from_floats = extractor([np.asarray(Image.open(p)) / 255.0 for p in images])
    assert from_paths.shape == (5, 512) and from_paths.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(from_paths, axis=1), 1.0, rtol=1e-5)
    for other in (from_records, from_pil, from_arrays, from_floats):
        np.testing.assert_allclose(other, from_paths, atol=1e-5)


def test_one_image_is_one_row_whatever_the_batch_size(images):
    single = _extractor(batch_size=2)(images[3])
    batched = _extractor(batch_size=4)(images)
    assert single.shape == (1, 512)
    np.testing.assert_allclose(single[0], batched[3], atol=1e-5)


def test_the_model_is_left_in_the_mode_it_was_in(images):
    extractor = _extractor()
    extractor.model.train()
    extractor(images[:2])
    assert extractor.model.training


def test_progress_hears_of_every_batch(images):
    extractor = _extractor(batch_size=2)
    heard = []
    extractor.encoder.progress = lambda done, total: heard.append((done, total))
    extractor(images)
    assert heard == [(2, 5), (4, 5), (5, 5)]


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((4, 4, 2), dtype=np.uint8), "image 0 is an array of shape (4, 4, 2); expected (H, W), (H, W, 3) or (H, W, 4)"),
        (np.full((4, 4, 3), 2.0), "image 0 is a float64 array with values outside [0, 1]; give uint8 or [0, 1] floats"),
        (np.zeros((4, 4, 3), dtype=np.int16), "image 0 is a int16 array; give uint8 (0-255) or floats in [0, 1]"),
        (3, "image 0 is a int; give a path, a PIL image or an (H, W, 3) array"),
    ],
)
def test_bad_images_are_refused_naming_the_culprit(image, message):
    with pytest.raises(ImageLoadError) as error:
        to_pil(image)
    assert str(error.value) == message


def test_a_missing_file_names_itself(tmp_path):
    with pytest.raises(ImageLoadError, match="does not exist"):
        _extractor()([tmp_path / "absent.jpg"])


def test_grayscale_and_rgba_arrays_become_rgb():
    assert to_pil(np.zeros((8, 4), dtype=np.uint8)).mode == "RGB"
    assert to_pil(np.zeros((8, 4, 4), dtype=np.uint8)).mode == "RGB"
    assert to_pil(np.zeros((8, 4, 1), dtype=np.uint8)).size == (4, 8)

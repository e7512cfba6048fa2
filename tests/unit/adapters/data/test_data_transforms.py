"""Train/test transforms: shapes, normalisation, and randomness drawn from torch's RNG."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from reidkit.adapters.data.transforms import IMAGENET_MEAN, IMAGENET_STD, build_test_transform, build_train_transform


def _image() -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (50, 30, 3), dtype=np.uint8), "RGB")


def test_test_transform_resizes_normalises_and_is_deterministic() -> None:
    transform = build_test_transform(32, 16)
    out = transform(Image.new("RGB", (30, 50), (124, 116, 104)))
    assert out.shape == (3, 32, 16) and out.dtype == torch.float32
    expected = [(v / 255 - m) / s for v, m, s in zip((124, 116, 104), IMAGENET_MEAN, IMAGENET_STD)]
    torch.testing.assert_close(out.mean(dim=(1, 2)), torch.tensor(expected), atol=1e-4, rtol=0)
    image = _image()
    assert torch.equal(transform(image), transform(image))


def test_train_transform_repeats_under_the_same_torch_seed_and_varies_otherwise() -> None:
    transform = build_train_transform(32, 16, pad=4)
    image = _image()
    torch.manual_seed(7)
    first = [transform(image) for _ in range(4)]
    torch.manual_seed(7)
    again = [transform(image) for _ in range(4)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert first[0].shape == (3, 32, 16)
    assert any(not torch.equal(first[0], other) for other in first[1:])


def test_train_transform_without_augmentation_matches_the_test_transform() -> None:
    plain = build_train_transform(32, 16, flip_p=0.0, pad=0, erasing_p=0.0)
    image = _image()
    assert torch.equal(plain(image), build_test_transform(32, 16)(image))


def test_flip_always_mirrors_when_p_is_one() -> None:
    flip = build_train_transform(32, 16, flip_p=1.0, pad=0, erasing_p=0.0)
    image = _image()
    assert torch.equal(flip(image), build_test_transform(32, 16)(image).flip(-1))


def test_erasing_always_blanks_a_box_when_p_is_one() -> None:
    erase = build_train_transform(32, 16, flip_p=0.0, pad=0, erasing_p=1.0)
    image = _image()
    torch.manual_seed(0)
    out, clean = erase(image), build_test_transform(32, 16)(image)
    changed = (out != clean).any(dim=0)
    assert changed.any()
    assert torch.all(out[:, changed] == 0)


@pytest.mark.parametrize(
    ("kwargs", "culprit"),
    [({"flip_p": 1.5}, "flip_p"), ({"erasing_p": -0.1}, "erasing_p"), ({"pad": -1}, "pad")],
)
def test_bad_arguments_name_themselves(kwargs: dict, culprit: str) -> None:
    with pytest.raises(ValueError, match=culprit):
        build_train_transform(32, 16, **kwargs)
    with pytest.raises(ValueError, match="0x16"):
        build_test_transform(0, 16)

"""A record's true box, and the training transform moving it with the image (issue 21)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image, ImageDraw

from reidkit.adapters.data.box_attribute import BOX_ATTRIBUTE, box_of, box_text, require_boxes
from reidkit.adapters.data.boxes import BoxedTrainTransform, normalised_box
from reidkit.domain.errors import DatasetError
from reidkit.domain.types import ImageRecord


def picture(width: int, height: int, box: tuple[int, int, int, int]) -> Image.Image:
    """Black, with a white rectangle exactly on ``box`` (pixels, x2 and y2 exclusive)."""
    image = Image.new("RGB", (width, height))
    ImageDraw.Draw(image).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=(255, 255, 255))
    return image


def white_extent(tensor: torch.Tensor) -> tuple[float, float, float, float]:
    """Normalised extent of the bright pixels of a transformed image (x2, y2 exclusive)."""
    bright = tensor.mean(0) > 0.0  # normalised: black is negative, white positive
    ys, xs = torch.nonzero(bright, as_tuple=True)
    h, w = bright.shape
    return float(xs.min()) / w, float(ys.min()) / h, (float(xs.max()) + 1) / w, (float(ys.max()) + 1) / h


@pytest.mark.parametrize("seed", range(6))
def test_the_box_follows_the_object_through_resize_flip_pad_and_crop(seed):
    source_box = (40, 30, 120, 150)  # in a 200x160 image
    transform = BoxedTrainTransform(64, 80, flip_p=0.5, pad=6, erasing_p=0.0)
    torch.manual_seed(seed)
    tensor, box = transform(picture(200, 160, source_box), source_box)
    assert tensor.shape == (3, 64, 80)
    # bilinear resizing blurs the rectangle's edge by about a pixel
    assert box.tolist() == pytest.approx(white_extent(tensor), abs=1.5 / 64)


def test_the_flip_mirrors_the_box_and_the_draws_come_from_torchs_rng():
    transform = BoxedTrainTransform(40, 100, flip_p=1.0, pad=0, erasing_p=0.0)
    _, box = transform(picture(100, 40, (10, 5, 30, 35)), (10, 5, 30, 35))
    assert box.tolist() == pytest.approx([0.7, 5 / 40, 0.9, 35 / 40])
    padded = BoxedTrainTransform(40, 100, flip_p=0.5, pad=4, erasing_p=0.5)
    torch.manual_seed(3)
    first = padded(picture(100, 40, (10, 5, 30, 35)), (10, 5, 30, 35))
    torch.manual_seed(3)
    again = padded(picture(100, 40, (10, 5, 30, 35)), (10, 5, 30, 35))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])


def test_a_box_is_clipped_to_the_image_and_vanishes_when_nothing_is_left():
    assert normalised_box((-10, 0, 50, 20), 100, 40).tolist() == pytest.approx([0.0, 0.0, 0.5, 0.5])
    assert normalised_box((120, 0, 150, 20), 100, 40).tolist() == [0.0, 0.0, 0.0, 0.0]


def test_the_box_attribute_round_trips_and_bad_ones_are_one_line():
    record = ImageRecord("a.jpg", 1, 0, attributes={BOX_ATTRIBUTE: box_text([1, 2, 30.5, 40])})
    assert box_of(record) == (1.0, 2.0, 30.5, 40.0)
    assert box_of(ImageRecord("b.jpg", 1, 0)) is None
    with pytest.raises(ValueError, match="x2 > x1"):
        box_text([5, 0, 5, 10])
    with pytest.raises(DatasetError, match="image c.jpg has a malformed box 'one two'"):
        box_of(ImageRecord("c.jpg", 1, 0, attributes={BOX_ATTRIBUTE: "one two"}))


def test_training_on_images_without_boxes_is_refused_naming_one():
    records = [ImageRecord("a.jpg", 1, 0, attributes={BOX_ATTRIBUTE: "0 0 5 5"}), ImageRecord("b.jpg", 1, 0)]
    with pytest.raises(DatasetError) as error:
        require_boxes(records, "model.mask_head")
    assert str(error.value).startswith("model.mask_head: 1 of 2 training images have no bounding box (first: b.jpg)")

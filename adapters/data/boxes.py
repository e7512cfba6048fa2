"""The true bounding box of an image, carried by its record and moved with the image through the
training transform (issue 21: the mask head's targets are built from it).

A record's box is its ``box`` attribute: ``"x1 y1 x2 y2"`` in pixels of the stored image (what a
reader takes from the dataset's annotations, e.g. the embedded baggage data's ``boxes.json``).
``BoxedTrainTransform`` applies the training transform's resize, flip, pad and crop to the image
and to its box alike, and returns the box normalised to [0, 1] of the transformed image; random
erasing hides part of the object but moves nothing. The MVB fork drew its boxes from a fixed list
by batch position, whatever the image showed, and never moved them with the augmentation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image
from torchvision import transforms as T

from reidkit.adapters.data.box_attribute import BOX_ATTRIBUTE, Box, box_of, box_text, require_boxes
from reidkit.adapters.data.transforms import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["BOX_ATTRIBUTE", "Box", "BoxedTrainTransform", "box_of", "box_text", "normalised_box", "require_boxes"]

class BoxedTrainTransform:
    """Resize -> flip -> pad + random crop -> tensor -> normalise -> random erasing, as
    ``build_train_transform``, on an image and its pixel box: ``(image, box) -> (tensor, box)``
    with the box normalised to the output. Random choices come from torch's RNG, in the order
    torchvision's transforms draw them, so the batch source's seeding applies."""

    def __init__(
        self,
        height: int,
        width: int,
        *,
        flip_p: float = 0.5,
        pad: int = 10,
        erasing_p: float = 0.5,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        if height < 1 or width < 1:
            raise ValueError(f"image size must be positive, got {height}x{width}")
        for name, value in (("flip_p", flip_p), ("erasing_p", erasing_p)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if pad < 0:
            raise ValueError(f"pad must be >= 0, got {pad}")
        self.height, self.width = int(height), int(width)
        self.flip_p, self.pad = float(flip_p), int(pad)
        self.to_tensor = T.Compose([T.ToTensor(), T.Normalize(mean=list(mean), std=list(std))])
        self.erase = T.RandomErasing(p=erasing_p) if erasing_p > 0 else None

    def __call__(self, image: Image.Image, box: Box) -> tuple[torch.Tensor, torch.Tensor]:
        scale_x, scale_y = self.width / image.width, self.height / image.height
        x1, y1, x2, y2 = box[0] * scale_x, box[1] * scale_y, box[2] * scale_x, box[3] * scale_y
        image = image.resize((self.width, self.height), Image.BILINEAR)
        if self.flip_p > 0 and torch.rand(1) < self.flip_p:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
            x1, x2 = self.width - x2, self.width - x1
        if self.pad > 0:
            image = T.functional.pad(image, self.pad)
            top = int(torch.randint(0, 2 * self.pad + 1, size=(1,)).item())
            left = int(torch.randint(0, 2 * self.pad + 1, size=(1,)).item())
            image = T.functional.crop(image, top, left, self.height, self.width)
            shift_x, shift_y = self.pad - left, self.pad - top
            x1, x2, y1, y2 = x1 + shift_x, x2 + shift_x, y1 + shift_y, y2 + shift_y
        tensor = self.to_tensor(image)
        if self.erase is not None:
            tensor = self.erase(tensor)
        return tensor, normalised_box((x1, y1, x2, y2), self.width, self.height)


def normalised_box(box: Box, width: int, height: int) -> torch.Tensor:
    """A pixel box clipped to the image and divided by its size; all zeros when nothing of it is
    left in the image (a zero target: no foreground)."""
    x1, x2 = (min(max(v / width, 0.0), 1.0) for v in (box[0], box[2]))
    y1, y2 = (min(max(v / height, 0.0), 1.0) for v in (box[1], box[3]))
    if x2 <= x1 or y2 <= y1:
        return torch.zeros(4)
    return torch.tensor([x1, y1, x2, y2], dtype=torch.float32)

"""FeatureExtractor: a trained network as a function from images to features.

What a user holds is files, PIL images or arrays, not dataset records; the extractor takes any of
them (one, or a sequence) and returns one row per image, batched through the same transform and
embedding as the run's evaluation (``TorchFeatureEncoder.embed_batch``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Union

import numpy as np
import torch
from PIL import Image

from reidkit.adapters.data.images import as_rgb, load_image
from reidkit.adapters.encoders.torch_encoder import TorchFeatureEncoder
from reidkit.domain.errors import ImageLoadError
from reidkit.domain.ports import FeatureEncoder
from reidkit.domain.types import FeatureMatrix, ImageRecord

ImageLike = Union[str, "os.PathLike[str]", Image.Image, np.ndarray]


class FeatureExtractor:
    """Calls ``encoder``'s network on images: ``extractor(images)`` is an (N, D) float32 array,
    row i for image i (a single image gives one row). It is also a FeatureEncoder over records;
    ``records`` (a run on video data: its tracklet encoder over ``encoder``) encodes them instead."""

    def __init__(self, encoder: TorchFeatureEncoder, records: FeatureEncoder | None = None) -> None:
        self.encoder = encoder
        self.records = records

    @property
    def model(self) -> torch.nn.Module:
        return self.encoder.model

    def encode(self, records: Sequence[ImageRecord]) -> FeatureMatrix:
        return (self.records or self.encoder).encode(records)

    def __call__(self, images: ImageLike | Sequence[ImageLike]) -> np.ndarray:
        batch = [images] if _is_one_image(images) else list(images)  # type: ignore[arg-type]
        rows = []
        model = self.encoder.model
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                for start in range(0, len(batch), self.encoder.batch_size):
                    chunk = batch[start : start + self.encoder.batch_size]
                    tensors = [self.encoder.transform(to_pil(image, start + i)) for i, image in enumerate(chunk)]
                    stacked = torch.stack(tensors).to(self.encoder.device)
                    rows.append(self.encoder.embed_batch(stacked).cpu().numpy())
                    if self.encoder.progress is not None:
                        self.encoder.progress(start + len(chunk), len(batch))
        finally:
            model.train(was_training)
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return np.concatenate(rows).astype(np.float32, copy=False)


def _is_one_image(images: object) -> bool:
    return isinstance(images, str | os.PathLike | Image.Image) or (
        isinstance(images, np.ndarray) and images.ndim in (2, 3) and images.dtype != object
    )


def to_pil(image: ImageLike, index: int = 0) -> Image.Image:
    """An RGB PIL image from a path, a PIL image, or an (H, W) / (H, W, 3|4) array (uint8, or
    floats in [0, 1]); one ImageLoadError naming the culprit otherwise."""
    if isinstance(image, str | os.PathLike):
        return load_image(image)
    if isinstance(image, Image.Image):
        return as_rgb(image)
    if isinstance(image, np.ndarray):
        return _array_to_pil(image, index)
    raise ImageLoadError(f"image {index} is a {type(image).__name__}; give a path, a PIL image or an (H, W, 3) array")


def _array_to_pil(array: np.ndarray, index: int) -> Image.Image:
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise ImageLoadError(f"image {index} is an array of shape {array.shape}; expected (H, W), (H, W, 3) or (H, W, 4)")
    if array.dtype == np.uint8:
        pixels = array
    elif array.dtype.kind == "f":
        if not np.isfinite(array).all() or array.min() < 0.0 or array.max() > 1.0:
            raise ImageLoadError(f"image {index} is a {array.dtype} array with values outside [0, 1]; give uint8 or [0, 1] floats")
        pixels = np.round(array * 255.0).astype(np.uint8)
    else:
        raise ImageLoadError(f"image {index} is a {array.dtype} array; give uint8 (0-255) or floats in [0, 1]")
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    return as_rgb(Image.fromarray(np.ascontiguousarray(pixels)))

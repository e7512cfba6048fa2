"""Train and test image transforms (torchvision v1, which draws every random choice from torch's
RNG, so seeding torch, per DataLoader worker or in the main process, makes augmentation repeatable).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from PIL import Image
from torchvision import transforms as T

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def build_train_transform(
    height: int,
    width: int,
    *,
    flip_p: float = 0.5,
    pad: int = 10,
    erasing_p: float = 0.5,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> T.Compose:
    """Resize -> flip -> pad + random crop -> tensor -> normalise -> random erasing (PIL in)."""
    _check_size(height, width)
    _check_probability("flip_p", flip_p)
    _check_probability("erasing_p", erasing_p)
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    steps: list[object] = [T.Resize((height, width))]
    if flip_p > 0:
        steps.append(T.RandomHorizontalFlip(p=flip_p))
    if pad > 0:
        steps += [T.Pad(pad), T.RandomCrop((height, width))]
    steps += [T.ToTensor(), T.Normalize(mean=list(mean), std=list(std))]
    if erasing_p > 0:
        # After Normalize, so the erased box holds 0 = the dataset mean, not black.
        steps.append(T.RandomErasing(p=erasing_p))
    return T.Compose(steps)


def build_test_transform(
    height: int,
    width: int,
    *,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> T.Compose:
    """Resize -> tensor -> normalise: deterministic."""
    _check_size(height, width)
    return T.Compose([T.Resize((height, width)), T.ToTensor(), T.Normalize(mean=list(mean), std=list(std))])


GAN_MEAN = GAN_STD = (0.5, 0.5, 0.5)  # images in [-1, 1], what a tanh generator produces


def build_gan_transform(height: int, width: int, *, flip_p: float = 0.5) -> T.Compose:
    """Resize -> flip -> tensor in [-1, 1]: an image translator's input (CycleGAN's and SPGAN's
    reference flips and nothing else; ``flip_p`` 0 for rendering)."""
    _check_size(height, width)
    _check_probability("flip_p", flip_p)
    steps: list[object] = [T.Resize((height, width))]
    if flip_p > 0:
        steps.append(T.RandomHorizontalFlip(p=flip_p))
    steps += [T.ToTensor(), T.Normalize(mean=list(GAN_MEAN), std=list(GAN_STD))]
    return T.Compose(steps)


def _check_size(height: int, width: int) -> None:
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height}x{width}")


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")


class TwoViews:
    """Two independent draws of ``transform`` on one image, stacked (2, C, H, W): MMT gives each
    student its own augmentation of the same batch. A plain class so it pickles into workers."""

    def __init__(self, transform: Callable[[Image.Image], torch.Tensor]) -> None:
        self.transform = transform

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return torch.stack([self.transform(image), self.transform(image)])

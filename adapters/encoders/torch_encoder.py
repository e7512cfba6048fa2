"""TorchFeatureEncoder: embeds image records with a torch model (the FeatureEncoder port)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from reidkit.adapters.data.datasets import ImageDataset
from reidkit.adapters.data.loading import LoaderOptions
from reidkit.domain.types import FeatureMatrix, ImageRecord


class TorchFeatureEncoder:
    """Runs ``model`` in eval mode over the records, ``batch_size`` images at a time.

    The model must already live on ``device`` (the encoder never moves a model it shares with a
    training step); its train/eval mode is restored afterwards. ``flip_augment`` averages each
    embedding with that of the horizontally flipped image; ``normalize`` L2-normalises the rows
    (after the averaging, so the flip does not shrink them). ``progress(done, total)`` is called
    after every batch with image counts.
    """

    def __init__(
        self,
        model: nn.Module,
        transform: Callable[[Image.Image], torch.Tensor],
        *,
        batch_size: int = 128,
        device: str | torch.device = "cpu",
        loading: LoaderOptions | None = None,
        normalize: bool = False,
        flip_augment: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.transform = transform
        self.batch_size = batch_size
        self.device = torch.device(device)
        # one pass per encode(): workers that outlive it would only hold their memory
        self.loading = loading if loading is not None else LoaderOptions(pin_memory=self.device.type == "cuda")
        self.normalize = normalize
        self.flip_augment = flip_augment
        self.progress = progress

    def encode(self, records: Sequence[ImageRecord]) -> FeatureMatrix:
        records = tuple(records)
        if not records:
            return FeatureMatrix(np.zeros((0, 0), dtype=np.float32))
        loader = DataLoader(
            ImageDataset(records, self.transform),
            batch_size=self.batch_size,
            shuffle=False,  # row i must stay record i
            **self.loading.dataloader_kwargs(persistent=False),
        )
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                rows = self._embed_all(loader, len(records))
        finally:
            self.model.train(was_training)
        return FeatureMatrix(np.concatenate(rows, axis=0))

    def _embed_all(self, loader: DataLoader, total: int) -> list[np.ndarray]:
        rows, done = [], 0
        for batch in loader:
            images = batch["image"].to(self.device, non_blocking=True)
            rows.append(self.embed_batch(images).cpu().numpy())
            done += int(images.shape[0])
            if self.progress is not None:
                self.progress(done, total)
        return rows

    def embed_batch(self, images: torch.Tensor) -> torch.Tensor:
        """(N, D) features of a transformed batch already on the device, flipped and normalised
        as configured; the caller puts the model in eval mode and turns gradients off."""
        features = self._embed(images)
        if self.flip_augment:
            features = (features + self._embed(images.flip(dims=[3]))) / 2.0
        if self.normalize:
            features = F.normalize(features, dim=1)
        return features

    def _embed(self, images: torch.Tensor) -> torch.Tensor:
        features = self.model(images)
        if not isinstance(features, torch.Tensor) or features.ndim != 2:
            raise TypeError(
                f"{type(self.model).__name__} must return an (N, D) tensor in eval mode, got "
                f"{type(features).__name__}{'' if not isinstance(features, torch.Tensor) else tuple(features.shape)}"
            )
        return features.float()

"""A torch Dataset over image records: loads, transforms and labels one image per index."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from PIL import Image
from torch.utils.data import Dataset

from reidkit.adapters.data.images import load_image
from reidkit.domain.types import ImageRecord


class ImageDataset(Dataset):
    """Item i is ``{"image", "label", "camid", "index": i}``; ``label`` defaults to the record's pid.

    ``labels`` carries pseudo-labels (or -1 for outliers) without rewriting the records. Holds only
    records, ints and the transform, so it pickles into DataLoader workers.
    """

    def __init__(
        self,
        records: Sequence[ImageRecord],
        transform: Callable[[Image.Image], torch.Tensor],
        labels: Sequence[int] | None = None,
    ) -> None:
        self.records = tuple(records)
        if labels is None:
            self.labels = tuple(r.pid for r in self.records)
        else:
            self.labels = tuple(int(label) for label in labels)
            if len(self.labels) != len(self.records):
                raise ValueError(f"got {len(self.labels)} labels for {len(self.records)} records")
        self.transform = transform

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, object]:
        record = self.records[index]
        return {
            "image": self.transform(load_image(record.path)),
            "label": self.labels[index],
            "camid": record.camid,
            "index": int(index),
        }

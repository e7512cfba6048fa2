"""TrainingBatch: the one batch type every batch source yields and every training step reads.

It replaces dictionaries with string keys: a step, a memory or a router reads ``batch.labels``
and ``batch.domains``, and a missing or misspelt field fails where the batch is made, not in
whichever adapter first looks it up.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from attrs import field, frozen

# Domain ids a batch carries per sample: domain-specific BN routes by them, SpCL's memory tells
# source classes from target instances by them.
SOURCE_DOMAIN, TARGET_DOMAIN = 0, 1


@frozen(eq=False)
class TrainingBatch:
    """``images`` (N, C, H, W), or (N, V, C, H, W) with V augmented views per sample (MMT);
    ``labels`` the class of each sample in the run's label space (a target sample's pseudo label,
    offset past the source classes in a joint batch); ``indexes`` each sample's position in its
    domain's training list; ``domains`` SOURCE_DOMAIN or TARGET_DOMAIN per sample; ``boxes``
    (N, 4) each image's true box normalised to it (a mask head's targets), or (0, 4) when the
    batch carries none."""

    images: torch.Tensor
    labels: torch.Tensor
    indexes: torch.Tensor
    domains: torch.Tensor
    boxes: torch.Tensor = field(factory=lambda: torch.zeros(0, 4))

    def __attrs_post_init__(self) -> None:
        n = self.images.shape[0] if self.images.dim() else -1
        for name in ("labels", "indexes", "domains"):
            value = getattr(self, name)
            if value.shape != (n,):
                raise ValueError(f"TrainingBatch.{name} must have shape ({n},) like the images, got {tuple(value.shape)}")
        if self.boxes.shape not in ((0, 4), (n, 4)):
            raise ValueError(f"TrainingBatch.boxes must have shape ({n}, 4) or (0, 4), got {tuple(self.boxes.shape)}")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def has_boxes(self) -> bool:
        return self.boxes.shape[0] > 0 or len(self) == 0

    @classmethod
    def of_domain(
        cls, images: torch.Tensor, labels: torch.Tensor, indexes: torch.Tensor, domain: int, boxes: torch.Tensor | None = None
    ) -> TrainingBatch:
        """A batch whose samples all come from one domain (``boxes`` when its images have them)."""
        extra = {} if boxes is None else {"boxes": boxes}
        return cls(images, labels, indexes, torch.full_like(labels, domain), **extra)

    def to(self, device: str | torch.device, *, non_blocking: bool = True) -> TrainingBatch:
        return TrainingBatch(*(getattr(self, name).to(device, non_blocking=non_blocking) for name in _FIELDS))

    def relabelled(self, offset: int) -> TrainingBatch:
        """The same samples with ``offset`` added to every label (a target batch in a joint label space)."""
        return TrainingBatch(self.images, self.labels + offset, self.indexes, self.domains, self.boxes)

    @classmethod
    def concat(cls, batches: Sequence[TrainingBatch]) -> TrainingBatch:
        """The samples of ``batches`` one after the other (a source batch, then a target batch)."""
        if not batches:
            raise ValueError("TrainingBatch.concat needs at least one batch")
        joined = [torch.cat([getattr(b, name) for b in batches]) for name in _FIELDS[:4]]
        boxed = [b.boxes.shape[0] > 0 for b in batches]
        boxes = torch.cat([b.boxes for b in batches]) if all(boxed) else torch.zeros(0, 4)
        return cls(*joined, boxes)


_FIELDS = ("images", "labels", "indexes", "domains", "boxes")

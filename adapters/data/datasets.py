"""Torch Datasets over records: ``ImageDataset`` loads, transforms and labels one image per index;
``TrackletDataset`` one tracklet's sampled frames, which ``collate_frames`` lays side by side as
images of the tracklet's label (Torchreid's video engines train b tracklets x s frames as b*s
images)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from PIL import Image
from torch.utils.data import Dataset

from reidkit.adapters.data.box_attribute import box_of, require_boxes
from reidkit.adapters.data.images import load_image
from reidkit.adapters.data.frames import FrameSampling
from reidkit.domain.types import ImageRecord, Tracklet


class ImageDataset(Dataset):
    """Item i is ``{"image", "label", "camid", "index": i}``; ``label`` defaults to the record's pid.

    ``labels`` carries pseudo-labels (or -1 for outliers) without rewriting the records. Holds only
    records, ints and the transform, so it pickles into DataLoader workers.
    """

    def __init__(
        self,
        records: Sequence[ImageRecord],
        transform: Callable[..., torch.Tensor],
        labels: Sequence[int] | None = None,
        *,
        boxes: bool = False,
    ) -> None:
        self.records = tuple(records)
        # with boxes, ``transform(image, pixel_box) -> (tensor, normalised box)`` (BoxedTrainTransform)
        # and each item has a "box"; every record must carry one
        self.boxes = bool(boxes)
        if self.boxes:
            require_boxes(self.records, "model.mask_head")
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
        item: dict[str, object] = {"label": self.labels[index], "camid": record.camid, "index": int(index)}
        if self.boxes:
            item["image"], item["box"] = self.transform(load_image(record.path), box_of(record))
        else:
            item["image"] = self.transform(load_image(record.path))
        return item


def _draw(length: int, count: int, replace: bool) -> list[int]:
    """``count`` of ``range(length)`` from torch's RNG (seeded per epoch, or per sample in workers)."""
    if replace:
        return torch.randint(length, (count,)).tolist()
    return torch.randperm(length)[:count].tolist()


class TrackletDataset(ImageDataset):
    """Item i is ``{"image": (s, C, H, W), "label", "camid", "index": i}``: the frames of tracklet
    i that ``sampling`` picks, each transformed on its own (as Torchreid does: every frame draws
    its own flip, crop and erasing). ``random`` sampling draws from torch's RNG, so the batch
    source's seeding makes it repeatable."""

    def __init__(
        self,
        records: Sequence[Tracklet],
        transform: Callable[[Image.Image], torch.Tensor],
        sampling: FrameSampling,
        labels: Sequence[int] | None = None,
    ) -> None:
        super().__init__(records, transform, labels)
        not_tracklets = [type(r).__name__ for r in self.records if not isinstance(r, Tracklet)][:1]
        if not_tracklets:
            raise TypeError(f"TrackletDataset needs Tracklet records, got a {not_tracklets[0]}")
        self.sampling = sampling

    def __getitem__(self, index: int) -> dict[str, object]:
        record = self.records[index]
        picked = self.sampling.indices(len(record.frames), _draw)
        frames = [self.transform(load_image(record.frames[i])) for i in picked]
        return {"image": torch.stack(frames), "label": self.labels[index], "camid": record.camid, "index": int(index)}


def collate_frames(items: Sequence[dict[str, object]]) -> dict[str, torch.Tensor]:
    """Tracklet items as one batch of frames: the images of item j one after the other, each with
    item j's label, camid and index (so tracklets of different lengths, ``all``, batch too)."""
    images = [item["image"] for item in items]
    counts = torch.tensor([int(image.shape[0]) for image in images])  # type: ignore[union-attr]
    batch: dict[str, torch.Tensor] = {"image": torch.cat(images)}  # type: ignore[arg-type]
    for key in ("label", "camid", "index"):
        batch[key] = torch.tensor([int(item[key]) for item in items]).repeat_interleave(counts)  # type: ignore[call-overload]
    return batch

"""TrackletFeatureEncoder: a tracklet's feature is the pool of its frames' features (the
FeatureEncoder port over video data; Torchreid's ``VideoSoftmaxEngine._extract_features``).

Each tracklet's frames are chosen as at training (``evenly``: seq_len frames at a fixed stride,
short tracklets padded with their last frame, Torchreid's test-time sampling; ``all``: every
frame), embedded by the frame encoder in batches of images, and pooled by ``avg`` (the mean) or
``max`` (the element-wise maximum). Rows of image records pass through as single frames. Torch-
free: the frame encoder does the embedding, so the pooling is testable with a hand-made encoder.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reidkit.adapters.data.frames import FrameSampling
from reidkit.domain.ports import FeatureEncoder
from reidkit.domain.types import FeatureMatrix, ImageRecord, Tracklet

POOLINGS = ("avg", "max")


class TrackletFeatureEncoder:
    """Row i of ``encode(records)`` is tracklet i's pooled frame features. ``frames`` embeds the
    frames (its normalisation, if any, applies per frame, before the pooling); ``sampling`` must
    not be ``random`` (features must not change from one evaluation to the next)."""

    def __init__(self, frames: FeatureEncoder, *, sampling: FrameSampling, pooling: str = "avg") -> None:
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {list(POOLINGS)}, got {pooling!r}")
        if sampling.sample == "random":
            raise ValueError("test-time frame sampling must be 'evenly' or 'all', not 'random'")
        self.frames = frames
        self.sampling = sampling
        self.pooling = pooling

    def encode(self, records: Sequence[ImageRecord | Tracklet]) -> FeatureMatrix:
        records = tuple(records)
        flat: list[ImageRecord] = []
        counts: list[int] = []
        for record in records:
            if isinstance(record, Tracklet):
                paths = [record.frames[i] for i in self.sampling.indices(len(record.frames))]
            else:
                paths = [record.path]
            flat += [ImageRecord(path=p, pid=record.pid, camid=record.camid, domain=record.domain) for p in paths]
            counts.append(len(paths))
        if not flat:
            return FeatureMatrix(np.zeros((0, 0), dtype=np.float32))
        values = self.frames.encode(flat).values
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        if self.pooling == "max":
            pooled = np.maximum.reduceat(values, starts, axis=0)
        else:
            pooled = np.add.reduceat(values, starts, axis=0) / np.asarray(counts, dtype=np.float32)[:, None]
        return FeatureMatrix(pooled.astype(np.float32, copy=False))

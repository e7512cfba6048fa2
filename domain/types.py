"""Frozen value objects that cross the layer boundaries.

Arrays are stored read-only and classes holding them compare by identity (``eq=False``): numpy's
element-wise ``==`` would make attrs' generated equality return an array.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import SupportsFloat

import numpy as np
from attrs import field, frozen


def _readonly(dtype: type) -> object:
    def convert(value: object) -> np.ndarray:
        array = np.array(value, dtype=dtype, copy=True, order="C")
        array.setflags(write=False)
        return array

    return convert


def _attributes(value: Mapping[str, object] | Iterable[tuple[str, object]]) -> tuple[tuple[str, str], ...]:
    """Sorted (name, value) string pairs from a mapping or pairs; a name given twice is refused."""
    pairs = value.items() if isinstance(value, Mapping) else value
    out: dict[str, str] = {}
    for pair in pairs:
        if isinstance(pair, (str, bytes)) or len(pair) != 2:
            raise ValueError(f"attributes must be (name, value) pairs or a mapping, got {pair!r}")
        name, text = str(pair[0]), str(pair[1])
        if name in out:
            raise ValueError(f"attribute {name!r} is given twice")
        out[name] = text
    return tuple(sorted(out.items()))


@frozen
class ImageRecord:
    """One image of a re-ID dataset. ``pid`` -1 is never stored (junk is dropped on reading).
    ``dataset`` numbers the datasets of a multi-dataset training split (0 otherwise).
    ``attributes``: what a dataset says about the image besides identity and camera (MVB's
    ``material``, ``side``, ``view``), sorted (name, value) string pairs so records stay hashable;
    built from a mapping or pairs, read with ``attribute(name)``."""

    path: str
    pid: int
    camid: int
    domain: str = ""
    dataset: int = 0
    attributes: tuple[tuple[str, str], ...] = field(default=(), converter=_attributes)

    def attribute(self, name: str, default: str = "") -> str:
        """The value of attribute ``name``, or ``default`` when the record has none."""
        for key, value in self.attributes:
            if key == name:
                return value
        return default


def _frames(value: Sequence[str]) -> tuple[str, ...]:
    frames = tuple(value)
    if not frames:
        raise ValueError("a tracklet needs at least one frame")
    return frames


@frozen
class Tracklet:
    """One tracklet of a video re-ID dataset: the ordered frame paths of one identity under one
    camera. It has an ImageRecord's ``pid``, ``camid``, ``domain`` and ``dataset`` (samplers,
    multi-dataset training and evaluation read only those), and ``path`` is its first frame (for
    messages and listings); what an image pipeline would do with ``path`` alone, a video pipeline
    does with ``frames``. ``pid`` -1 is never stored."""

    frames: tuple[str, ...] = field(converter=_frames)
    pid: int
    camid: int
    domain: str = ""
    dataset: int = 0

    @property
    def path(self) -> str:
        return self.frames[0]

    def __len__(self) -> int:
        return len(self.frames)


Record = ImageRecord | Tracklet  # what a split holds: images, or (video data) tracklets


@frozen
class ReidDataset:
    """The three splits of one domain. Train pids are contiguous 0..num_train_pids-1. A video
    dataset's splits hold ``Tracklet``s (its statistics count tracklets where an image dataset's
    count images)."""

    name: str
    train: tuple[Record, ...] = field(converter=tuple)
    query: tuple[Record, ...] = field(converter=tuple)
    gallery: tuple[Record, ...] = field(converter=tuple)
    # False for unlabelled images: each training pid is one image, standing for no identity, so
    # nothing may score pseudo labels against them
    identities_known: bool = True

    @property
    def is_video(self) -> bool:
        """Whether the splits hold tracklets."""
        return any(isinstance(r, Tracklet) for split in (self.train, self.query, self.gallery) for r in split[:1])

    @property
    def num_frames(self) -> int:
        """Images in all three splits (a tracklet counts its frames)."""
        return sum(len(r) if isinstance(r, Tracklet) else 1 for r in (*self.train, *self.query, *self.gallery))

    @property
    def num_train_pids(self) -> int:
        return len({r.pid for r in self.train})

    @property
    def train_pids(self) -> tuple[int, ...]:
        """The identity of each training image, in order."""
        return tuple(r.pid for r in self.train)

    @property
    def train_camids(self) -> tuple[int, ...]:
        return tuple(r.camid for r in self.train)

    @property
    def num_cameras(self) -> int:
        return len({r.camid for r in (*self.train, *self.query, *self.gallery)})

    def split_statistics(self) -> list[tuple[str, int, int, int]]:
        """(split, identities, images, cameras) for train, query and gallery: the table Torchreid
        prints for a dataset."""
        return [
            (split, len({r.pid for r in records}), len(records), len({r.camid for r in records}))
            for split, records in (("train", self.train), ("query", self.query), ("gallery", self.gallery))
        ]

    def summary(self) -> dict[str, int]:
        return {
            "train_ids": self.num_train_pids,
            "train_images": len(self.train),
            "query_ids": len({r.pid for r in self.query}),
            "query_images": len(self.query),
            "gallery_ids": len({r.pid for r in self.gallery}),
            "gallery_images": len(self.gallery),
            "cameras": self.num_cameras,
        }


@frozen(eq=False)
class FeatureMatrix:
    """float32 (N, D) features, row i belonging to sample i; read-only."""

    values: np.ndarray = field(converter=_readonly(np.float32))

    def __attrs_post_init__(self) -> None:
        if self.values.ndim != 2:
            raise ValueError(f"features must be 2-D (N, D), got shape {self.values.shape}")

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def dim(self) -> int:
        return int(self.values.shape[1])

    def normalized(self) -> FeatureMatrix:
        norms = np.linalg.norm(self.values, axis=1, keepdims=True)
        return FeatureMatrix(self.values / np.maximum(norms, 1e-12))


@frozen(eq=False)
class PseudoLabels:
    """int64 (N,) cluster ids 0..num_clusters-1, -1 for an outlier left out of training."""

    labels: np.ndarray = field(converter=_readonly(np.int64))

    def __attrs_post_init__(self) -> None:
        if self.labels.ndim != 1:
            raise ValueError(f"labels must be 1-D, got shape {self.labels.shape}")
        if self.labels.size and self.labels.min() < -1:
            raise ValueError(f"labels must be >= -1, got {int(self.labels.min())}")
        used = np.unique(self.labels[self.labels >= 0])
        if used.size and (used[0] != 0 or used[-1] != used.size - 1):
            raise ValueError("cluster ids must be contiguous from 0")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_clusters(self) -> int:
        return int(self.labels.max()) + 1 if self.labels.size and self.labels.max() >= 0 else 0

    @property
    def num_outliers(self) -> int:
        return int((self.labels < 0).sum())


@frozen(eq=False)
class EmbeddedSet:
    """Features of a query or gallery set with the identities and cameras of its rows."""

    features: FeatureMatrix
    pids: np.ndarray = field(converter=_readonly(np.int64))
    camids: np.ndarray = field(converter=_readonly(np.int64))

    def __attrs_post_init__(self) -> None:
        n = len(self.features)
        if self.pids.shape != (n,) or self.camids.shape != (n,):
            raise ValueError(
                f"pids {self.pids.shape} and camids {self.camids.shape} must both be ({n},) "
                "to match the features"
            )

    @classmethod
    def of(cls, features: FeatureMatrix, records: Sequence[ImageRecord | Tracklet]) -> EmbeddedSet:
        return cls(features, [r.pid for r in records], [r.camid for r in records])


def _floats(value: Sequence[float]) -> tuple[float, ...]:
    return tuple(float(v) for v in value)


@frozen
class RetrievalMetrics:
    """Market-1501 protocol results, averaged over the queries that have a valid match."""

    mAP: float
    mINP: float
    cmc: tuple[float, ...] = field(converter=_floats)
    num_queries: int
    num_valid_queries: int

    def rank(self, k: int) -> float:
        """CMC at rank k (1-based); past the end the curve stays at its last value."""
        if k < 1:
            raise ValueError(f"rank must be >= 1, got {k}")
        return self.cmc[min(k, len(self.cmc)) - 1]

    def as_dict(self) -> dict[str, object]:
        return {
            "mAP": self.mAP,
            "mINP": self.mINP,
            "cmc": list(self.cmc),
            "num_queries": self.num_queries,
            "num_valid_queries": self.num_valid_queries,
        }


@frozen
class LabelSpace:
    """The classes a run trains: a labelled source's identities first (0..S-1), then the
    unlabelled target's clusters (S + c). ``source_classes`` is 0 without a labelled source, so a
    target-only run's labels are its cluster ids. Computed once per run and handed to everything
    that lays out or offsets classes (joint batches, shared classifier heads, the hybrid memory)."""

    source_classes: int = field(default=0)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.source_classes, bool) or not isinstance(self.source_classes, int) or self.source_classes < 0:
            raise ValueError(f"source_classes must be an int >= 0, got {self.source_classes!r}")

    @property
    def target_offset(self) -> int:
        """What a target cluster id is shifted by in the joint label space."""
        return self.source_classes

    def num_classes(self, num_clusters: int) -> int:
        """Classes of a head over the source identities and ``num_clusters`` target clusters."""
        return self.source_classes + num_clusters


@frozen
class StepReport:
    """What one optimisation step reports. Values may be 0-d tensors; call float() only to log.
    ``finite`` is False when the step's loss was not finite (on any rank) and it therefore applied
    no update: the step decides it once, so the loop needs no float() of its own."""

    losses: Mapping[str, SupportsFloat]
    batch_size: int
    lr: float = 0.0
    finite: bool = True


@frozen
class TrainingProgress:
    """How far a run got: saved with every checkpoint, so resuming knows where to start, and so a
    finished run still knows its last evaluation of each domain (``latest``)."""

    epochs_done: int = 0
    best_score: float = float("-inf")
    history: tuple[tuple[int, str, float], ...] = ()
    latest: tuple[tuple[str, RetrievalMetrics], ...] = field(default=(), converter=tuple)

    @property
    def last_metrics(self) -> dict[str, RetrievalMetrics]:
        """The last evaluation of each domain, in the order the domains were first evaluated."""
        return dict(self.latest)

    def evaluated(self, scores: Mapping[str, RetrievalMetrics]) -> tuple[tuple[str, RetrievalMetrics], ...]:
        """``latest`` after an evaluation that scored ``scores``."""
        merged = {**self.last_metrics, **scores}
        return tuple(merged.items())


@frozen
class RunResult:
    """What a finished training run leaves: the last evaluation of each domain and the file of its
    best model (what a later stage of a pipeline starts from)."""

    metrics: Mapping[str, RetrievalMetrics]
    model: str = ""

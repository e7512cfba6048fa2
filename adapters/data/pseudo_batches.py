"""Batch sources whose labels change every epoch (pseudo labels), and source+target batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from PIL import Image

from reidkit.adapters.data.batches import LoaderBatchSource
from reidkit.adapters.data.datasets import ImageDataset
from reidkit.adapters.data.samplers import IdentitySampler
from reidkit.domain.errors import PseudoLabelError
from reidkit.domain.ports import BatchSource
from reidkit.domain.types import FeatureMatrix, ImageRecord, PseudoLabels

SOURCE_DOMAIN, TARGET_DOMAIN = 0, 1


class PseudoLabelledBatches:
    """P x K batches over ``records`` with this epoch's pseudo labels: a ``BatchSource`` that is
    also a ``LabelConsumer`` (``reset`` rebuilds the dataset labels and the sampler). Outliers (-1)
    are never sampled; an epoch is exactly ``num_batches`` batches whatever the cluster count; a
    cluster's K images are drawn across its cameras (camera-aware, as the peers' sampler); with
    ``singletons_once`` an un-clustered instance is drawn once, not K times (see ``IdentitySampler``).
    Every item carries ``domain`` (for domain-specific BN). Under data parallelism each rank gets
    its share of every step's identities (see ``IdentitySampler``)."""

    def __init__(
        self,
        records: Sequence[ImageRecord],
        transform: Callable[[Image.Image], torch.Tensor],
        *,
        instances_per_id: int,
        ids_per_batch: int,
        num_batches: int,
        seed: int,
        num_workers: int = 0,
        domain: int = TARGET_DOMAIN,
        rank: int = 0,
        world_size: int = 1,
        singletons_once: bool = False,
    ) -> None:
        if num_batches < 1:
            raise ValueError(f"num_batches must be >= 1 (iterations per epoch), got {num_batches}")
        if not records:
            raise ValueError("PseudoLabelledBatches needs at least one record")
        self.records = tuple(records)
        self.transform = transform
        self.instances_per_id = instances_per_id
        self.ids_per_batch = ids_per_batch
        self.num_batches = num_batches
        self.seed = seed
        self.num_workers = num_workers
        self.domain = domain
        self.rank, self.world_size = rank, world_size
        self.singletons_once = singletons_once
        self._source: LoaderBatchSource | None = None

    def reset(self, features: FeatureMatrix, labels: PseudoLabels) -> None:
        if len(labels) != len(self.records):
            raise ValueError(f"{len(labels)} pseudo labels for {len(self.records)} training records")
        usable = labels.num_clusters
        if usable < self.ids_per_batch * self.world_size:
            ranks = f" x {self.world_size} ranks" if self.world_size > 1 else ""
            raise PseudoLabelError(
                f"the pseudo labels have {usable} clusters ({labels.num_outliers} outliers) but a step needs "
                f"train.ids_per_batch={self.ids_per_batch}{ranks}: lower it, or retune the labeler (e.g. pseudo_labeler.eps)"
            )
        dataset = ImageDataset(self.records, self.transform, labels=labels.labels.tolist())
        sampler = IdentitySampler(
            labels.labels,
            self.instances_per_id,
            self.ids_per_batch,
            seed=self.seed,
            num_batches=self.num_batches,
            camids=[r.camid for r in self.records],
            rank=self.rank,
            world_size=self.world_size,
            singletons_once=self.singletons_once,
        )
        self._source = LoaderBatchSource(
            dataset, sampler, sampler.batch_size, seed=self.seed, num_workers=self.num_workers, rank=self.rank
        )

    def __len__(self) -> int:
        return self.num_batches

    def epoch(self, epoch: int) -> Iterator[dict]:
        if self._source is None:
            raise RuntimeError("PseudoLabelledBatches.epoch() before reset(): no pseudo labels yet")
        for batch in self._source.epoch(epoch):
            batch["domain"] = torch.full_like(batch["label"], self.domain)
            yield batch


class JointBatches:
    """Each batch is a source batch followed by a target batch (the UDA steps of SpCL and of the
    strong baseline train on both): tensors concatenated, ``domain`` 0 for source rows and 1 for
    target rows. ``target_label_offset`` shifts the target's pseudo labels past the source's
    classes when both share one classifier (SpCL's memory keeps the labels per domain: 0)."""

    def __init__(self, source: BatchSource[dict], target: BatchSource[dict], *, target_label_offset: int = 0) -> None:
        if isinstance(target_label_offset, bool) or not isinstance(target_label_offset, int) or target_label_offset < 0:
            raise ValueError(f"target_label_offset must be an int >= 0, got {target_label_offset!r}")
        self.source, self.target = source, target
        self.target_label_offset = target_label_offset

    def __len__(self) -> int:
        return min(len(self.source), len(self.target))

    def epoch(self, epoch: int) -> Iterator[dict]:
        for source, target in zip(self.source.epoch(epoch), self.target.epoch(epoch)):
            source = {**source, "domain": torch.full_like(source["label"], SOURCE_DOMAIN)}
            target = {
                **target,
                "label": target["label"] + self.target_label_offset,
                "domain": torch.full_like(target["label"], TARGET_DOMAIN),
            }
            yield {key: torch.cat([source[key], target[key]]) for key in source.keys() & target.keys()}

"""Batch sources whose labels change every epoch (pseudo labels), and source+target batches."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import torch
from PIL import Image

from reidkit.adapters.data.batch import SOURCE_DOMAIN, TARGET_DOMAIN, TrainingBatch
from reidkit.adapters.data.batches import IN_PROCESS, LoaderBatchSource
from reidkit.adapters.data.datasets import ImageDataset
from reidkit.adapters.data.loading import LoaderOptions
from reidkit.adapters.data.samplers import IdentitySampler
from reidkit.domain.errors import PseudoLabelError
from reidkit.domain.ports import BatchSource
from reidkit.domain.types import FeatureMatrix, ImageRecord, LabelSpace, PseudoLabels


class PseudoLabelledBatches:
    """P x K batches over ``records`` with this epoch's pseudo labels: a ``BatchSource`` that is
    also a ``LabelConsumer`` (``reset`` rebuilds the dataset labels and the sampler). Outliers (-1)
    are never sampled; an epoch is exactly ``num_batches`` batches whatever the cluster count; a
    cluster's K images are drawn across its cameras (camera-aware, as the peers' sampler); with
    ``singletons`` = "once" or "spcl" an un-clustered instance is drawn once, not K times (see
    ``IdentitySampler``).
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
        loading: LoaderOptions = IN_PROCESS,
        domain: int = TARGET_DOMAIN,
        rank: int = 0,
        world_size: int = 1,
        singletons: str = "k",
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
        self.loading = loading
        self.domain = domain
        self.rank, self.world_size = rank, world_size
        self.singletons = singletons
        self._source: LoaderBatchSource | None = None

    def reset(self, features: FeatureMatrix, labels: PseudoLabels) -> None:
        if len(labels) != len(self.records):
            raise ValueError(f"{len(labels)} pseudo labels for {len(self.records)} training records")
        usable = labels.num_clusters
        if usable < self.ids_per_batch * self.world_size:
            ranks = f" x {self.world_size} ranks" if self.world_size > 1 else ""
            raise PseudoLabelError(
                f"the pseudo labels have {usable} clusters ({labels.num_outliers} outliers) but a step needs "
                f"train.ids_per_batch={self.ids_per_batch}{ranks}: lower it, or retune what made the labels "
                "(the labeler, e.g. pseudo_labeler.eps, or a correction's correct.* settings)"
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
            singletons=self.singletons,
        )
        if self._source is not None:
            self._source.close()  # the last epoch's workers hold the last epoch's labels
        self._source = LoaderBatchSource(
            dataset,
            sampler,
            sampler.batch_size,
            seed=self.seed,
            loading=self.loading,
            rank=self.rank,
            domain=self.domain,
        )

    def __len__(self) -> int:
        return self.num_batches

    def epoch(self, epoch: int) -> Iterable[TrainingBatch]:
        if self._source is None:
            raise RuntimeError("PseudoLabelledBatches.epoch() before reset(): no pseudo labels yet")
        return self._source.epoch(epoch)


class JointBatches:
    """Each batch is a source batch followed by a target batch (the UDA steps of SpCL, the strong
    baseline and MMT+ train on both), ``domains`` SOURCE_DOMAIN for the source rows and
    TARGET_DOMAIN for the target rows whatever the halves carried. The target's pseudo labels are
    shifted past the source's classes (``label_space.target_offset``), so both live in one label
    space: a shared classifier reads them as they are, SpCL's memory looks target rows up by index."""

    def __init__(self, source: BatchSource[TrainingBatch], target: BatchSource[TrainingBatch], label_space: LabelSpace) -> None:
        if not isinstance(label_space, LabelSpace):
            raise TypeError(f"label_space must be a LabelSpace, got {type(label_space).__name__}")
        self.source, self.target = source, target
        self.label_space = label_space

    def __len__(self) -> int:
        return min(len(self.source), len(self.target))

    def epoch(self, epoch: int) -> Iterator[TrainingBatch]:
        offset = self.label_space.target_offset
        for source, target in zip(self.source.epoch(epoch), self.target.epoch(epoch)):
            yield TrainingBatch.concat([
                TrainingBatch.of_domain(source.images, source.labels, source.indexes, SOURCE_DOMAIN),
                TrainingBatch.of_domain(target.images, target.labels + offset, target.indexes, TARGET_DOMAIN),
            ])

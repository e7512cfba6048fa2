"""``BatchSource`` over a DataLoader: the batches of epoch e, augmentation included, depend only on
(seed, e), so a run resumed at epoch e sees what an uninterrupted run would have seen.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler

from reidkit.adapters.data.batch import SOURCE_DOMAIN, TrainingBatch
from reidkit.adapters.data.datasets import ImageDataset, TrackletDataset, collate_frames
from reidkit.adapters.data.frames import FrameSampling
from reidkit.adapters.data.loading import LoaderOptions
from reidkit.adapters.data.samplers import GroupSampler, IdentitySampler
from reidkit.adapters.runtime.seeding import derive_seed
from reidkit.domain.errors import DatasetError
from reidkit.domain.types import ImageRecord, Tracklet


IN_PROCESS = LoaderOptions()  # no worker processes: the transforms run in the training process


class LoaderBatchSource:
    """``TrainingBatch``es of ``batch_size`` = P x K samples, every sample stamped with ``domain``.

    Randomness of epoch e, re-applied each time its loader starts iterating: the sampler's order
    comes from ``sampler.set_epoch(e)``. With worker processes (``loading.num_workers`` > 0) one
    loader serves every epoch (its workers persist with ``loading.persistent_workers``) and each
    sample's augmentation draws from torch, numpy and ``random`` seeded from (seed, e, its position
    in the epoch), whichever worker decodes it: the batches are the same for any worker count. With
    no worker the transforms run in this process and draw from torch's *global* RNG, so starting
    to iterate epoch e's loader reseeds that global RNG from (seed, e); whatever else draws from it
    in this process during the epoch (dropout, say) is then reproducible too.
    Under data parallelism ``rank`` gives each rank its own augmentation stream (rank 0's is the
    single-process one). ``collate`` replaces the DataLoader's default collation (video:
    ``collate_frames`` lays each tracklet's frames out as images of its label).
    """

    def __init__(
        self,
        dataset: ImageDataset,
        sampler: IdentitySampler | GroupSampler,
        batch_size: int,
        *,
        seed: int,
        loading: LoaderOptions = IN_PROCESS,
        rank: int = 0,
        domain: int = SOURCE_DOMAIN,
        collate: Callable[[list[dict[str, object]]], dict[str, object]] | None = None,
    ) -> None:
        if batch_size != sampler.batch_size:
            raise ValueError(
                f"batch_size {batch_size} must equal the sampler's P x K = {sampler.batch_size}"
            )
        if not isinstance(loading, LoaderOptions):
            raise TypeError(f"loading must be LoaderOptions, got {type(loading).__name__}")
        self.dataset = dataset
        self.sampler = sampler
        self.batch_size = batch_size
        self.seed = int(seed)
        self.loading = loading
        self.rank = int(rank)
        self.domain = int(domain)
        self._collate = {} if collate is None else {"collate_fn": collate}
        self._workers: DataLoader | None = None  # with worker processes: one loader for every epoch

    @property
    def num_workers(self) -> int:
        return self.loading.num_workers

    def __len__(self) -> int:
        return len(self.sampler) // self.batch_size

    def epoch(self, epoch: int) -> _Epoch | _WorkerEpoch:
        epoch_seed = loader_seed(self.seed, epoch, self.rank)
        if self.loading.num_workers:
            return _WorkerEpoch(self, epoch, epoch_seed)
        self.sampler.set_epoch(epoch)
        loader = _EpochLoader(
            self.dataset,
            epoch=epoch,
            epoch_seed=epoch_seed,
            batch_size=self.batch_size,
            sampler=self.sampler,
            drop_last=True,
            generator=torch.Generator(),
            worker_init_fn=seed_worker,
            **self._collate,
            **self.loading.dataloader_kwargs(),
        )
        return _Epoch(loader, self.domain)

    def close(self) -> None:
        """Stops this source's worker processes (if it has any); a later epoch starts new ones."""
        loader, self._workers = self._workers, None
        iterator = getattr(loader, "_iterator", None)
        if iterator is not None:
            iterator._shutdown_workers()

    def _worker_loader(self) -> DataLoader:
        """The loader every epoch iterates (its workers persist with ``persistent_workers``): the
        sampler hands the workers (index, seed) pairs, so what a worker draws for a sample depends
        on neither the worker nor what it drew before."""
        if self._workers is None:
            self._workers = DataLoader(
                _SeededItems(self.dataset),
                batch_size=self.batch_size,
                sampler=_SampleSeeds(self.sampler),
                drop_last=True,
                generator=torch.Generator().manual_seed(0),  # nothing draws from torch's global RNG
                worker_init_fn=seed_worker,
                **self._collate,
                **self.loading.dataloader_kwargs(),
            )
        return self._workers


def identity_batches(
    records: Sequence[ImageRecord],
    transform: Callable[[Image.Image], torch.Tensor],
    *,
    ids_per_batch: int,
    instances_per_id: int,
    seed: int,
    stream: str = "",
    num_batches: int = 0,
    camera_aware: bool = False,
    loading: LoaderOptions = IN_PROCESS,
    rank: int = 0,
    world_size: int = 1,
    domain: int = SOURCE_DOMAIN,
    frames: FrameSampling | None = None,
    boxes: bool = False,
) -> LoaderBatchSource:
    """P x K batches of labelled ``records`` (their pids are the labels). ``num_batches`` 0 = each
    image about once per epoch; ``camera_aware`` deals each identity's K images across its
    cameras; ``stream`` names an independent seed stream derived from ``seed`` (a second batch
    source of the same run must not draw what the first draws). Tracklet records are sampled P x K
    as tracklets, and each batch holds their ``frames`` (sampling) as images: P x K x seq_len.
    ``boxes``: every record carries its true box, moved by ``transform(image, box)``
    (BoxedTrainTransform), and each batch its ``boxes`` (a mask head's targets)."""
    _enough_identities(records, ids_per_batch, world_size)
    seed = derive_seed(seed, stream) % 2**31 if stream else seed
    sampler = IdentitySampler(
        [r.pid for r in records],
        instances_per_id,
        ids_per_batch,
        seed=seed,
        num_batches=num_batches or None,
        camids=[r.camid for r in records] if camera_aware else None,
        rank=rank,
        world_size=world_size,
    )
    dataset, collate = _dataset(records, transform, frames, boxes=boxes)
    return LoaderBatchSource(
        dataset, sampler, sampler.batch_size, seed=seed, loading=loading, rank=rank, domain=domain, **collate
    )


def group_batches(
    records: Sequence[ImageRecord],
    transform: Callable[[Image.Image], torch.Tensor],
    *,
    by: str,
    batch_size: int,
    groups_per_batch: int,
    seed: int,
    num_batches: int = 0,
    loading: LoaderOptions = IN_PROCESS,
    rank: int = 0,
    world_size: int = 1,
    frames: FrameSampling | None = None,
    boxes: bool = False,
) -> LoaderBatchSource:
    """Batches of labelled ``records`` drawn ``groups_per_batch`` groups at a time, ``by``
    ``"datasets"`` (each record's dataset) or ``"cameras"`` (its camera): Torchreid's
    RandomDatasetSampler and RandomDomainSampler (see ``GroupSampler``). Tracklets as in
    ``identity_batches``."""
    if by not in ("datasets", "cameras"):
        raise ValueError(f"by must be 'datasets' or 'cameras', got {by!r}")
    groups = [r.dataset if by == "datasets" else r.camid for r in records]
    try:
        sampler = GroupSampler(
            groups, batch_size, groups_per_batch, seed=seed, num_batches=num_batches or None, rank=rank, world_size=world_size
        )
    except ValueError as err:
        raise DatasetError(f"train.sampler '{by}': {err}; lower train.groups_per_batch or the batch size") from None
    dataset, collate = _dataset(records, transform, frames, boxes=boxes)
    return LoaderBatchSource(dataset, sampler, batch_size, seed=seed, loading=loading, rank=rank, **collate)


def shuffled_batches(
    records: Sequence[ImageRecord],
    transform: Callable[[Image.Image], torch.Tensor],
    *,
    batch_size: int,
    seed: int,
    stream: str = "",
    num_batches: int = 0,
    loading: LoaderOptions = IN_PROCESS,
    rank: int = 0,
    world_size: int = 1,
    domain: int = SOURCE_DOMAIN,
) -> LoaderBatchSource:
    """Batches of ``batch_size`` images drawn without replacement, identities ignored (an image
    translator learns a style, not who is who): an epoch deals the whole set again whenever fewer
    than a batch are left. ``stream`` as in ``identity_batches``."""
    if not records:
        raise DatasetError("no images to draw translation batches from")
    if len(records) < batch_size * world_size:
        raise DatasetError(
            f"{len(records)} images cannot fill a batch of {batch_size} on each of {world_size} rank(s); lower the batch size"
        )
    seed = derive_seed(seed, stream) % 2**31 if stream else seed
    sampler = GroupSampler(
        [0] * len(records), batch_size, 1, seed=seed, num_batches=num_batches or None, rank=rank, world_size=world_size
    )
    dataset, collate = _dataset(records, transform, None)
    return LoaderBatchSource(dataset, sampler, batch_size, seed=seed, loading=loading, rank=rank, domain=domain, **collate)


def _dataset(
    records: Sequence[ImageRecord | Tracklet],
    transform: Callable[..., torch.Tensor],
    frames: FrameSampling | None,
    *,
    boxes: bool = False,
) -> tuple[ImageDataset, dict[str, object]]:
    """The dataset of ``records`` and the batch source's collation: images as they are (with
    their boxes when ``boxes``); tracklets through ``frames`` (Torchreid's defaults when None),
    laid out as frames."""
    if not any(isinstance(r, Tracklet) for r in records[:1]):
        return ImageDataset(records, transform, boxes=boxes), {}
    if boxes:
        raise DatasetError("model.mask_head needs image data with boxes; the training split holds tracklets (video)")
    return TrackletDataset(records, transform, frames or FrameSampling()), {"collate": collate_frames}


def _enough_identities(records: Sequence[ImageRecord], ids_per_batch: int, world_size: int) -> None:
    """A labelled split must hold the P identities of a batch (on every rank); said in the
    settings' names, before training starts."""
    identities = len({r.pid for r in records})
    if identities < ids_per_batch * world_size:
        domain = records[0].domain if records else ""
        split = f"the training split of domain '{domain}'" if domain else "the training split"
        ranks = f" on each of {world_size} ranks" if world_size > 1 else ""
        most = identities // world_size
        fix = (
            f"set train.ids_per_batch to at most {most}"
            if most >= 2
            else f"a batch needs at least 2 identities{' per rank' if ranks else ''}: add identities"
        )
        raise DatasetError(
            f"train.ids_per_batch is {ids_per_batch}{ranks}, but {split} has {identities} "
            f"{'identity' if identities == 1 else 'identities'}; {fix}"
        )


class _Epoch:
    """One epoch's batches as TrainingBatch values; iterating it again repeats them. Iteration
    (and with it the loader's reseeding) starts at the first batch, not when the epoch is made."""

    def __init__(self, loader: DataLoader, domain: int) -> None:
        self.loader, self.domain = loader, domain

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[TrainingBatch]:
        for item in self.loader:
            yield TrainingBatch.of_domain(item["image"], item["label"], item["index"], self.domain, item.get("box"))


class _WorkerEpoch:
    """One epoch of a source with worker processes: iterating it points the source's one loader
    at this epoch (its sampler's order and its samples' seeds), then reads it. Iterating it again
    repeats the epoch; two epochs of one source are read one after the other, not interleaved."""

    def __init__(self, source: LoaderBatchSource, epoch: int, epoch_seed: int) -> None:
        self.source, self.epoch, self.epoch_seed = source, epoch, epoch_seed

    def __len__(self) -> int:
        return len(self.source)

    def __iter__(self) -> Iterator[TrainingBatch]:
        loader = self.source._worker_loader()
        seeds = loader.sampler
        assert isinstance(seeds, _SampleSeeds)
        seeds.epoch, seeds.epoch_seed = self.epoch, self.epoch_seed
        domain = self.source.domain
        for item in loader:
            yield TrainingBatch.of_domain(item["image"], item["label"], item["index"], domain, item.get("box"))


class _SampleSeeds(Sampler):
    """The identity sampler's indices of ``epoch``, each paired with the seed its augmentation
    draws from: a pure function of (epoch seed, position in the epoch). The sampler runs in the
    training process, so setting ``epoch`` here reaches workers that started epochs ago."""

    def __init__(self, sampler: IdentitySampler | GroupSampler) -> None:
        self.sampler = sampler
        self.epoch = 0
        self.epoch_seed = 0

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        self.sampler.set_epoch(self.epoch)
        epoch_seed = self.epoch_seed
        for position, index in enumerate(self.sampler):
            yield int(index), sample_seed(epoch_seed, position)


class _SeededItems(Dataset):
    """``dataset[index]`` drawn with torch, numpy and ``random`` seeded from the item's seed."""

    def __init__(self, dataset: ImageDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: tuple[int, int]) -> dict[str, object]:
        index, seed = item
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)
        return self.dataset[index]


_MASK64 = 2**64 - 1


def sample_seed(epoch_seed: int, position: int) -> int:
    """A 63-bit seed for the ``position``-th sample of an epoch (splitmix64 of the pair: cheap
    enough for the training process to compute per sample, and nearby pairs do not collide)."""
    z = (int(epoch_seed) + (int(position) + 1) * 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) >> 1


class _EpochLoader(DataLoader):
    """A DataLoader that re-applies its epoch's seeds each time iteration starts, so whatever
    draws from torch's RNG between ``epoch(e)`` and the loop (or another epoch's loader made in
    between) cannot shift this epoch's batches, and iterating it twice repeats them."""

    def __init__(self, *args: object, epoch: int, epoch_seed: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.epoch = epoch
        self.epoch_seed = epoch_seed

    def __iter__(self):  # noqa: ANN204 - DataLoader's own iterator type is private
        self.sampler.set_epoch(self.epoch)
        # Workers get base_seed + worker id, base_seed drawn from this generator.
        self.generator.manual_seed(self.epoch_seed)
        if self.num_workers == 0:
            torch.manual_seed(self.epoch_seed)  # transforms in this process draw from it
        return super().__iter__()


def loader_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """A 63-bit seed for (seed, epoch[, rank]); SeedSequence mixes them so nearby pairs do not
    collide. Rank 0 keeps the single-process (seed, epoch) entropy."""
    entropy = [int(seed), int(epoch)] + ([int(rank)] if rank else [])
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0] >> 1)


def seed_worker(worker_id: int) -> None:
    """Seeds numpy and ``random`` in a worker from the torch seed the DataLoader gave it."""
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)

"""``BatchSource`` over a DataLoader: the batches of epoch e, augmentation included, depend only on
(seed, e), so a run resumed at epoch e sees what an uninterrupted run would have seen.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from reidkit.adapters.data.batch import SOURCE_DOMAIN, TrainingBatch
from reidkit.adapters.data.datasets import ImageDataset
from reidkit.adapters.data.samplers import IdentitySampler
from reidkit.adapters.runtime.seeding import derive_seed
from reidkit.domain.errors import DatasetError
from reidkit.domain.types import ImageRecord


class LoaderBatchSource:
    """``TrainingBatch``es of ``batch_size`` = P x K samples, every sample stamped with ``domain``.

    Randomness of epoch e, re-applied each time its loader starts iterating: the sampler's order
    comes from ``sampler.set_epoch(e)``; augmentation in worker w draws from torch seeded with the
    loader's base seed + w, the base seed drawn from a generator seeded from (seed, e). With
    ``num_workers=0`` the transforms run in this process and draw from torch's *global* RNG, so
    starting to iterate epoch e's loader reseeds that global RNG from (seed, e); whatever else
    draws from it in this process during the epoch (dropout, say) is then reproducible too.
    Under data parallelism ``rank`` gives each rank its own augmentation stream (rank 0's is the
    single-process one).
    """

    def __init__(
        self,
        dataset: ImageDataset,
        sampler: IdentitySampler,
        batch_size: int,
        *,
        seed: int,
        num_workers: int = 0,
        pin_memory: bool = False,
        rank: int = 0,
        domain: int = SOURCE_DOMAIN,
    ) -> None:
        if batch_size != sampler.batch_size:
            raise ValueError(
                f"batch_size {batch_size} must equal the sampler's P x K = {sampler.batch_size}"
            )
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        self.dataset = dataset
        self.sampler = sampler
        self.batch_size = batch_size
        self.seed = int(seed)
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.rank = int(rank)
        self.domain = int(domain)

    def __len__(self) -> int:
        return len(self.sampler) // self.batch_size

    def epoch(self, epoch: int) -> _Epoch:
        self.sampler.set_epoch(epoch)
        loader = _EpochLoader(
            self.dataset,
            epoch=epoch,
            epoch_seed=loader_seed(self.seed, epoch, self.rank),
            batch_size=self.batch_size,
            sampler=self.sampler,
            num_workers=self.num_workers,
            drop_last=True,
            pin_memory=self.pin_memory,
            generator=torch.Generator(),
            worker_init_fn=seed_worker,
            # A fresh loader per epoch: persistent workers would carry their RNG across epochs.
            persistent_workers=False,
        )
        return _Epoch(loader, self.domain)


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
    num_workers: int = 0,
    rank: int = 0,
    world_size: int = 1,
    domain: int = SOURCE_DOMAIN,
) -> LoaderBatchSource:
    """P x K batches of labelled ``records`` (their pids are the labels). ``num_batches`` 0 = each
    image about once per epoch; ``camera_aware`` deals each identity's K images across its
    cameras; ``stream`` names an independent seed stream derived from ``seed`` (a second batch
    source of the same run must not draw what the first draws)."""
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
    dataset = ImageDataset(records, transform)
    return LoaderBatchSource(
        dataset, sampler, sampler.batch_size, seed=seed, num_workers=num_workers, rank=rank, domain=domain
    )


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
            yield TrainingBatch.of_domain(item["image"], item["label"], item["index"], self.domain)


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

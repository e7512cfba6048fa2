"""``BatchSource`` over a DataLoader: the batches of epoch e, augmentation included, depend only on
(seed, e), so a run resumed at epoch e sees what an uninterrupted run would have seen.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch.utils.data import DataLoader

from reidkit.adapters.data.datasets import ImageDataset
from reidkit.adapters.data.samplers import IdentitySampler


class LoaderBatchSource:
    """Batches of ``{"image", "label", "camid", "index"}`` tensors, ``batch_size`` = P x K.

    Randomness of epoch e: the sampler's order comes from ``sampler.set_epoch(e)``; augmentation
    in worker w draws from torch seeded by the loader's base seed (itself drawn from a generator
    seeded from (seed, e)) + w. With ``num_workers=0`` the transforms run in this process and draw
    from torch's *global* RNG, so ``epoch(e)`` reseeds that global RNG from (seed, e); anything
    else drawing from it in this process (dropout, say) is then reproducible per epoch too.
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

    def __len__(self) -> int:
        return len(self.sampler) // self.batch_size

    def epoch(self, epoch: int) -> DataLoader:
        self.sampler.set_epoch(epoch)
        epoch_seed = derive_seed(self.seed, epoch)
        if self.num_workers == 0:
            torch.manual_seed(epoch_seed)
        return DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            sampler=self.sampler,
            num_workers=self.num_workers,
            drop_last=True,
            pin_memory=self.pin_memory,
            generator=torch.Generator().manual_seed(epoch_seed),
            worker_init_fn=seed_worker,
            # A fresh loader per epoch: persistent workers would carry their RNG across epochs.
            persistent_workers=False,
        )


def derive_seed(seed: int, epoch: int) -> int:
    """A 63-bit seed for (seed, epoch); SeedSequence mixes them so nearby pairs do not collide."""
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1, np.uint64)[0] >> 1)


def seed_worker(worker_id: int) -> None:
    """Seeds numpy and ``random`` in a worker from the torch seed the DataLoader gave it."""
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)

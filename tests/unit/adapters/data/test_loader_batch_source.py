"""LoaderBatchSource: exact length, and epoch e's batches (augmentation included) depend only on
(seed, e), whatever ran before, so a resumed run sees what an uninterrupted one saw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reidkit.adapters.data.batch import SOURCE_DOMAIN, TARGET_DOMAIN, TrainingBatch
from reidkit.adapters.data.batches import LoaderBatchSource, sample_seed
from reidkit.adapters.data.datasets import ImageDataset
from reidkit.adapters.data.loading import LoaderOptions
from reidkit.adapters.data.samplers import IdentitySampler
from reidkit.adapters.data.transforms import build_train_transform
from reidkit.domain.types import ImageRecord


@pytest.fixture
def dataset(tmp_path: Path) -> ImageDataset:
    rng = np.random.default_rng(0)
    records = []
    for i in range(24):
        path = tmp_path / f"{i:02d}.png"
        Image.fromarray(rng.integers(0, 256, (24, 12, 3), dtype=np.uint8), "RGB").save(path)
        records.append(ImageRecord(str(path), pid=i % 6, camid=i % 3))
    return ImageDataset(records, build_train_transform(16, 8, pad=2, erasing_p=0.5))


def _source(dataset: ImageDataset, *, workers: int = 0, seed: int = 1, **kwargs) -> LoaderBatchSource:
    labels = [r.pid for r in dataset.records]
    sampler = IdentitySampler(labels, instances_per_id=2, ids_per_batch=3, seed=seed, num_batches=3)
    loading = LoaderOptions(num_workers=workers, persistent_workers=workers > 0, prefetch_factor=2 if workers else None)
    return LoaderBatchSource(dataset, sampler, 6, seed=seed, loading=loading, **kwargs)


FIELDS = ("images", "labels", "indexes", "domains")


def _collect(batches) -> list[dict[str, torch.Tensor]]:
    return [{name: getattr(batch, name) for name in FIELDS} for batch in batches]


def _same(a: list[dict[str, torch.Tensor]], b: list[dict[str, torch.Tensor]]) -> bool:
    return len(a) == len(b) and all(torch.equal(x[k], y[k]) for x, y in zip(a, b) for k in x)


def test_batches_are_training_batches_and_len_is_exact(dataset: ImageDataset) -> None:
    source = _source(dataset)
    batches = list(source.epoch(0))
    assert len(source) == 3 == len(batches) == len(source.epoch(0))
    first = batches[0]
    assert isinstance(first, TrainingBatch)
    assert first.images.shape == (6, 3, 16, 8)
    assert first.labels.dtype == torch.int64 and first.labels.shape == (6,)
    labels = [int(v) for v in first.labels]
    assert len(set(labels)) == 3 and all(labels.count(v) == 2 for v in labels)
    # labels belong to the indexed records; every sample carries the source's domain id
    for index, label in zip(first.indexes, first.labels):
        assert dataset.records[int(index)].pid == int(label)
    assert first.domains.tolist() == [SOURCE_DOMAIN] * 6


def test_every_sample_carries_the_domain_the_source_was_given(dataset: ImageDataset) -> None:
    batch = next(iter(_source(dataset, domain=TARGET_DOMAIN).epoch(0)))
    assert batch.domains.tolist() == [TARGET_DOMAIN] * 6


def test_same_epoch_gives_identical_batches_whatever_ran_before(dataset: ImageDataset) -> None:
    uninterrupted = _source(dataset)
    _collect(uninterrupted.epoch(0))
    reference = _collect(uninterrupted.epoch(1))
    torch.rand(100)  # someone else drawing from the global RNG in between
    resumed = _source(dataset)  # a fresh process resuming at epoch 1
    assert _same(_collect(resumed.epoch(1)), reference)
    assert _same(_collect(resumed.epoch(1)), reference)


def test_a_loader_made_early_is_not_shifted_by_what_runs_before_its_loop(dataset: ImageDataset) -> None:
    reference = _collect(_source(dataset).epoch(1))
    source = _source(dataset)
    early = source.epoch(1)
    _collect(source.epoch(2))  # another epoch's loader moves the sampler and the RNGs
    torch.rand(10)
    assert _same(_collect(early), reference)


def test_different_epochs_and_seeds_differ(dataset: ImageDataset) -> None:
    source = _source(dataset)
    assert not _same(_collect(source.epoch(0)), _collect(source.epoch(1)))
    assert not _same(_collect(_source(dataset, seed=2).epoch(0)), _collect(source.epoch(0)))


def test_augmentation_itself_is_reproduced_not_only_the_order(dataset: ImageDataset) -> None:
    source = _source(dataset)
    a, b = _collect(source.epoch(4)), _collect(source.epoch(4))
    assert _same(a, b)
    # the same indices with a different torch seed give different pixels: augmentation is random
    torch.manual_seed(12345)
    again = torch.stack([dataset[int(i)]["image"] for i in a[0]["indexes"]])
    assert not torch.equal(again, a[0]["images"])


def test_worker_processes_reproduce_an_epoch(dataset: ImageDataset) -> None:
    source = _source(dataset, workers=1)
    loader = source.epoch(2)
    first = _collect(loader)
    assert _same(_collect(source.epoch(2)), first)
    assert _same(_collect(loader), first)  # iterating the same loader again repeats it
    assert not _same(_collect(source.epoch(3)), first)


def test_batch_size_must_be_p_times_k(dataset: ImageDataset) -> None:
    sampler = IdentitySampler([r.pid for r in dataset.records], 2, 3, seed=0)
    with pytest.raises(ValueError, match=r"batch_size 8 must equal the sampler's P x K = 6"):
        LoaderBatchSource(dataset, sampler, 8, seed=0)


def test_worker_processes_keep_an_epoch_whatever_ran_before_and_however_many_there_are(dataset: ImageDataset) -> None:
    """Persistent workers serve every epoch: epoch 2 read after epochs 0 and 1 (an uninterrupted
    run) is epoch 2 read first (a run resumed there), with one worker or two."""
    uninterrupted = _source(dataset, workers=2)
    try:
        _collect(uninterrupted.epoch(0))
        partly = iter(uninterrupted.epoch(1))
        next(partly)  # an epoch left unfinished (a joint source stops at the shorter half)
        reference = _collect(uninterrupted.epoch(2))
        first_loader = uninterrupted._workers
        assert _same(_collect(uninterrupted.epoch(2)), reference)
        assert uninterrupted._workers is first_loader  # the same loader (and workers) again
    finally:
        uninterrupted.close()
    resumed = _source(dataset, workers=1)
    try:
        torch.rand(100)
        assert _same(_collect(resumed.epoch(2)), reference)
        assert not _same(_collect(resumed.epoch(3)), reference)
    finally:
        resumed.close()


def test_close_stops_the_workers_and_a_later_epoch_starts_new_ones(dataset: ImageDataset) -> None:
    source = _source(dataset, workers=1)
    reference = _collect(source.epoch(0))
    workers = source._workers._iterator._workers  # the DataLoader's worker processes
    assert all(w.is_alive() for w in workers)
    source.close()
    assert source._workers is None and not any(w.is_alive() for w in workers)
    assert _same(_collect(source.epoch(0)), reference)
    source.close()


def test_sample_seeds_differ_by_position_and_epoch() -> None:
    seeds = {sample_seed(epoch_seed, position) for epoch_seed in (0, 1, 2**62) for position in range(1000)}
    assert len(seeds) == 3000
    assert all(0 <= s < 2**63 for s in seeds)

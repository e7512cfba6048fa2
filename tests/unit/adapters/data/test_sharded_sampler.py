"""IdentitySampler under data parallelism: each rank draws its own P identities of every step
from the shared global draw, so the ranks' batches are disjoint and together are exactly the
batches of one process drawing world_size x P identities."""

from __future__ import annotations

import numpy as np
import pytest

from reidkit.adapters.data.samplers import IdentitySampler

LABELS = [i // 5 for i in range(60)] + [-1] * 4  # 12 identities of 5 images, 4 outliers
P, K, WORLD = 2, 3, 3


def batches(sampler: IdentitySampler) -> np.ndarray:
    return np.asarray(list(sampler)).reshape(-1, sampler.batch_size)


def rank_sampler(rank: int, **kwargs) -> IdentitySampler:
    return IdentitySampler(LABELS, K, P, seed=7, rank=rank, world_size=WORLD, **kwargs)


@pytest.mark.parametrize("epoch", [0, 3])
def test_ranks_split_the_global_step_of_one_process_with_world_x_p_identities(epoch):
    single = IdentitySampler(LABELS, K, P * WORLD, seed=7, num_batches=6)
    single.set_epoch(epoch)
    ranks = []
    for rank in range(WORLD):
        sampler = rank_sampler(rank, num_batches=6)
        sampler.set_epoch(epoch)
        ranks.append(batches(sampler))
    np.testing.assert_array_equal(np.concatenate(ranks, axis=1), batches(single))


def test_ranks_see_disjoint_identities_in_every_step():
    ranks = [batches(rank_sampler(rank, num_batches=10)) for rank in range(WORLD)]
    labels = np.asarray(LABELS)
    for step in range(10):
        identities = [set(labels[ranks[rank][step]]) for rank in range(WORLD)]
        assert all(len(ids) == P for ids in identities)
        assert len(set().union(*identities)) == P * WORLD


def test_default_epoch_covers_the_data_once_across_the_ranks():
    one = IdentitySampler(LABELS, K, P, seed=7)
    sharded = rank_sampler(0)
    assert sharded.num_batches == one.num_batches // WORLD  # each step now takes WORLD x P identities
    assert sum(len(rank_sampler(rank)) for rank in range(WORLD)) == len(one)  # as many images per epoch


def test_too_few_identities_for_every_rank_names_the_ranks():
    with pytest.raises(ValueError, match=r"ids_per_batch=5 x 3 ranks but only 12 identities"):
        IdentitySampler(LABELS, K, 5, seed=0, rank=0, world_size=3)


@pytest.mark.parametrize(("rank", "world"), [(2, 2), (-1, 2), (0, 0)])
def test_a_rank_outside_the_world_is_refused(rank, world):
    with pytest.raises(ValueError, match="rank must be in"):
        IdentitySampler(LABELS, K, P, seed=0, rank=rank, world_size=world)

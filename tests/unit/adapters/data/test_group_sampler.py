"""GroupSampler (Torchreid's RandomDatasetSampler / RandomDomainSampler): every batch holds
``groups_per_batch`` groups with an equal share of images, epochs have a fixed length and are a
pure function of (seed, epoch)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from reidkit.adapters.data.samplers import GroupSampler

# three groups of unequal sizes: 40, 12 and 20 images
GROUPS = [0] * 40 + [1] * 12 + [2] * 20


def _batches(sampler: GroupSampler, epoch: int = 0) -> list[list[int]]:
    sampler.set_epoch(epoch)
    order = list(sampler)
    return [order[i : i + sampler.batch_size] for i in range(0, len(order), sampler.batch_size)]


def test_each_batch_holds_the_asked_groups_in_equal_shares_without_repeats():
    sampler = GroupSampler(GROUPS, 8, 2, seed=0, num_batches=30)
    batches = _batches(sampler)
    assert len(batches) == 30 and all(len(b) == 8 for b in batches)
    for batch in batches:
        counts = Counter(GROUPS[i] for i in batch)
        assert len(counts) == 2 and set(counts.values()) == {4}
        assert len(set(batch)) == 8


def test_the_default_epoch_is_about_one_pass_and_every_group_takes_part():
    sampler = GroupSampler(GROUPS, 8, 2, seed=1)
    assert sampler.num_batches == len(GROUPS) // 8
    batches = _batches(sampler)
    assert {GROUPS[i] for b in batches for i in b} == {0, 1, 2}


def test_within_a_pass_no_image_is_drawn_twice():
    # 2 groups x 8 images, both in every batch, 4 of each: a pass is 2 batches, then the pools refill
    groups = [0] * 8 + [1] * 8
    batches = _batches(GroupSampler(groups, 8, 2, seed=3, num_batches=4))
    for one_pass in (batches[:2], batches[2:]):
        drawn = [i for b in one_pass for i in b]
        assert sorted(drawn) == list(range(16))


def test_the_order_is_a_function_of_seed_and_epoch():
    a, b = GroupSampler(GROUPS, 8, 2, seed=5), GroupSampler(GROUPS, 8, 2, seed=5)
    assert _batches(a, 3) == _batches(b, 3)
    assert _batches(a, 3) != _batches(a, 4)
    assert _batches(a, 3) != _batches(GroupSampler(GROUPS, 8, 2, seed=6), 3)


def test_ranks_take_disjoint_slices_of_the_same_global_steps():
    single = GroupSampler(GROUPS, 8, 2, seed=2, num_batches=4, world_size=2)
    ranks = [GroupSampler(GROUPS, 8, 2, seed=2, num_batches=4, rank=r, world_size=2) for r in (0, 1)]
    per_rank = [_batches(r) for r in ranks]
    for step in range(4):
        assert not set(per_rank[0][step]) & set(per_rank[1][step])
    assert len(list(single)) == 4 * 8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 9, "groups_per_batch": 2}, "batch_size 9 must be a multiple of groups_per_batch 2"),
        ({"batch_size": 8, "groups_per_batch": 4}, r"groups_per_batch=4 but only 3 of 3 groups hold 2 images \(batch_size 8 / 4\)"),
        ({"batch_size": 48, "groups_per_batch": 2}, r"groups_per_batch=2 but only 1 of 3 groups hold 24 images"),
        ({"batch_size": 8, "groups_per_batch": 0}, "groups_per_batch must be >= 1, got 0"),
    ],
)
def test_impossible_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GroupSampler(GROUPS, seed=0, **kwargs)


def test_cameras_of_one_dataset_are_groups_too():
    camids = np.repeat([0, 1, 2, 3], 6).tolist()
    for batch in _batches(GroupSampler(camids, 6, 3, seed=0, num_batches=5)):
        assert sorted(Counter(camids[i] for i in batch).values()) == [2, 2, 2]

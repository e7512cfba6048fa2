"""The distributed decorators in a real 2-process gloo group: sharded extraction restores the
records' order, rank 0's labels (or its error) reach every rank, a memory updated with the global
batch equals one process's update on the concatenated batch, and DDP steps keep the ranks' models
identical while they train on different data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reidkit.adapters.encoders.sharded import shard_indexes
from tests.distributed import workers


@pytest.fixture(scope="module")
def collectives(tmp_path_factory):
    """What each of the 2 ranks saw (one spawn for every scenario, see workers.collectives)."""
    out = tmp_path_factory.mktemp("collectives")
    workers.spawn(workers.collectives, out)
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(workers.WORLD)]


@pytest.mark.parametrize(("count", "world", "expected"), [(7, 2, [[0, 1, 2, 3], [4, 5, 6, 6]]), (1, 2, [[0], [0]])])
def test_shards_are_contiguous_equal_and_padded_with_the_last_record(count, world, expected):
    assert [shard_indexes(count, rank, world) for rank in range(world)] == expected


@pytest.mark.parametrize("count", [7, 8, 1])
def test_sharded_extraction_gives_every_rank_the_single_process_rows_in_order(collectives, count):
    single = workers.IndexEncoder().encode(workers.records(count)).values
    for rank in collectives:
        np.testing.assert_array_equal(rank[f"encoded_{count}"], single)
    shards = [rank[f"shard_{count}"] for rank in collectives]
    assert sorted(set(shards[0] + shards[1])) == sorted(r.path for r in workers.records(count))
    if count > 1:
        assert not set(shards[0]) & set(shards[1])  # no record encoded twice, padding aside


def test_every_rank_trains_on_rank_zeros_labels(collectives):
    for rank in collectives:
        np.testing.assert_array_equal(rank["labels"], np.arange(6) % 2)


def test_a_labeling_failure_on_rank_zero_is_raised_on_every_rank(collectives):
    assert [rank.get("error") for rank in collectives] == ["rank 0 found 1 cluster"] * workers.WORLD


@pytest.mark.parametrize(("name", "targets"), [("cluster_memory", 1), ("hybrid_memory", 2)])
def test_global_memory_update_equals_one_process_updating_with_the_whole_batch(collectives, name, targets):
    features, *ids = workers.global_batch()
    single = workers.fresh_memories()[0 if name == "cluster_memory" else 1]
    single.update(features, ids[targets - 1])
    before = workers.fresh_memories()[0 if name == "cluster_memory" else 1].features
    assert not torch.equal(single.features, before)
    for rank in collectives:
        torch.testing.assert_close(rank[name], single.features, rtol=0, atol=1e-6)


@pytest.mark.parametrize("part", ["supervised", "contrast", "memory"])
def test_ddp_keeps_parameters_and_bn_statistics_identical_across_ranks(collectives, part):
    first, second = collectives[0][part], collectives[1][part]
    assert first.keys() == second.keys()
    for key in first:
        torch.testing.assert_close(first[key], second[key], rtol=0, atol=0, msg=key)
    # the ranks trained (on different data): not a vacuous equality with the untrained model
    if part == "memory":
        assert float(first["log_temperature"]) != pytest.approx(np.log(0.05))
    else:
        untrained = workers.tiny_model(num_classes=1).state_dict()
        assert not torch.equal(first["trunk.0.weight"], untrained["trunk.0.weight"])


def test_checkpointed_ddp_model_loads_into_a_plain_model(collectives):
    saved = collectives[0]["supervised"]
    model = workers.tiny_model(num_classes=5)
    model.load_state_dict(saved)  # no "module." prefix: the step saves the unwrapped model
    torch.testing.assert_close(model.state_dict()["classifier.weight"], saved["classifier.weight"])

"""IdentitySampler: exact length, P x K batches, a pure function of (seed, epoch)."""

from __future__ import annotations

from collections import Counter

import pytest

from reidkit.adapters.data.samplers import IdentitySampler

# 7 identities of uneven size (one smaller than K), plus outliers that must never be drawn.
LABELS = [0] * 9 + [1] * 2 + [2] * 5 + [-1] * 6 + [3] * 4 + [4] * 12 + [5] * 1 + [6] * 7


def _batches(sampler: IdentitySampler) -> list[list[int]]:
    order = list(sampler)
    size = sampler.batch_size
    return [order[i : i + size] for i in range(0, len(order), size)]


@pytest.mark.parametrize("num_batches", [None, 1, 7, 50])
def test_length_is_exactly_what_is_yielded(num_batches: int | None) -> None:
    sampler = IdentitySampler(LABELS, instances_per_id=4, ids_per_batch=3, seed=0, num_batches=num_batches)
    order = list(sampler)
    assert len(order) == len(sampler)
    assert len(sampler) % 12 == 0
    if num_batches is not None:
        assert len(sampler) == num_batches * 12


def test_default_length_shows_each_image_about_once() -> None:
    sampler = IdentitySampler(LABELS, instances_per_id=4, ids_per_batch=3, seed=0)
    labelled = sum(1 for label in LABELS if label >= 0)
    # max(n, K) // K chunks per identity: 2+1+1+1+3+1+1 = 10, so 10 // 3 = 3 batches of 12
    assert sampler.num_batches == 3
    assert abs(len(sampler) - labelled) <= sampler.batch_size


def test_every_batch_is_p_distinct_ids_times_k_instances() -> None:
    sampler = IdentitySampler(LABELS, instances_per_id=4, ids_per_batch=3, seed=5, num_batches=40)
    for batch in _batches(sampler):
        counts = Counter(LABELS[i] for i in batch)
        assert len(counts) == 3
        assert set(counts.values()) == {4}
        assert -1 not in counts
        # each K-run belongs to one identity (steps rely on contiguous groups)
        runs = [batch[i : i + 4] for i in range(0, 12, 4)]
        assert all(len({LABELS[i] for i in run}) == 1 for run in runs)


def test_small_identities_are_drawn_with_replacement_big_ones_without() -> None:
    sampler = IdentitySampler(LABELS, instances_per_id=4, ids_per_batch=7, seed=1, num_batches=3)
    for batch in _batches(sampler):
        runs = {LABELS[batch[i]]: batch[i : i + 4] for i in range(0, len(batch), 4)}
        assert len(set(runs[5])) == 1  # one image, repeated
        assert len(set(runs[1])) == 2  # two images, both used
        assert len(set(runs[4])) == 4  # twelve images: no repeats within a run


def test_same_seed_and_epoch_give_the_same_order() -> None:
    a = IdentitySampler(LABELS, 4, 3, seed=11)
    b = IdentitySampler(LABELS, 4, 3, seed=11)
    a.set_epoch(3)
    b.set_epoch(3)
    assert list(a) == list(b)
    assert list(a) == list(a)  # iterating does not advance anything


def test_epochs_and_seeds_change_the_order_and_going_back_replays() -> None:
    sampler = IdentitySampler(LABELS, 4, 3, seed=11, num_batches=10)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    assert first != second
    assert list(IdentitySampler(LABELS, 4, 3, seed=12, num_batches=10)) != first
    sampler.set_epoch(0)
    assert list(sampler) == first


def test_state_dict_round_trip_restores_the_epoch() -> None:
    sampler = IdentitySampler(LABELS, 4, 3, seed=2)
    sampler.set_epoch(5)
    restored = IdentitySampler(LABELS, 4, 3, seed=2)
    restored.load_state_dict(sampler.state_dict())
    assert list(restored) == list(sampler)


def test_a_long_epoch_covers_every_labelled_image() -> None:
    sampler = IdentitySampler(LABELS, 4, 3, seed=3, num_batches=30)
    seen = set(sampler)
    assert seen == {i for i, label in enumerate(LABELS) if label >= 0}


def test_global_numpy_rng_is_left_alone() -> None:
    import numpy as np

    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    list(IdentitySampler(LABELS, 4, 3, seed=3))
    assert np.random.rand() == expected


def test_too_few_identities_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"ids_per_batch=8 but only 7 identities have labels >= 0"):
        IdentitySampler(LABELS, 4, 8, seed=0)
    with pytest.raises(ValueError, match=r"only 0 identities"):
        IdentitySampler([-1, -1, -1], 2, 1, seed=0)


@pytest.mark.parametrize(("k", "p", "n", "culprit"), [(0, 2, None, "instances_per_id"), (2, 0, None, "ids_per_batch"), (2, 2, 0, "num_batches")])
def test_bad_sizes_name_the_argument(k: int, p: int, n: int | None, culprit: str) -> None:
    with pytest.raises(ValueError, match=culprit):
        IdentitySampler(LABELS, k, p, seed=0, num_batches=n)


def _camera_sets(cameras, **kwargs):
    # identity 0: 6 images over cameras 0,0,0,0,1,2; identity 1: 4 images, all camera 3
    labels = [0] * 6 + [1] * 4
    sampler = IdentitySampler(labels, instances_per_id=3, ids_per_batch=2, seed=0, num_batches=40, **kwargs)
    order = list(sampler)
    chunks = [order[i : i + 3] for i in range(0, len(order), 3)]
    return Counter(frozenset(cameras[i] for i in chunk) for chunk in chunks if labels[chunk[0]] == 0)


def test_camera_aware_chunks_spread_over_the_identitys_cameras():
    camids = [0, 0, 0, 0, 1, 2, 3, 3, 3, 3]
    aware = _camera_sets(camids, camids=camids)
    # Interleaved deals: one chunk with all three cameras, then one with the rest (camera 0).
    assert set(aware) == {frozenset({0, 1, 2}), frozenset({0})}
    assert aware[frozenset({0, 1, 2})] == aware[frozenset({0})]
    plain = _camera_sets(camids)
    assert set(plain) - {frozenset({0, 1, 2}), frozenset({0})}  # without camids, mixed chunks occur


def test_camera_ids_must_match_the_labels():
    with pytest.raises(ValueError, match="3 camera ids for 4 labels"):
        IdentitySampler([0, 0, 1, 1], instances_per_id=2, ids_per_batch=2, seed=0, camids=[0, 1, 2])


# SpCL-style labels: three clusters and ten un-clustered instances (each its own label).
CLUSTERED = [0] * 6 + [1] * 5 + [2] * 9 + list(range(3, 13))


def test_singletons_once_draws_each_unclustered_instance_once_per_pass() -> None:
    sampler = IdentitySampler(CLUSTERED, instances_per_id=4, ids_per_batch=4, seed=3, num_batches=4, singletons="once")
    order = list(sampler)
    assert len(order) == len(sampler) == 4 * 16
    # One pass is 2 + 2 + 3 chunks of 4 plus 10 single images = 38 indices.
    first_pass = Counter(order[:38])
    assert all(first_pass[i] == 1 for i in range(20, 30))
    assert set(first_pass) == set(range(30))


def test_singletons_once_keeps_clusters_in_chunks_of_k() -> None:
    sampler = IdentitySampler(CLUSTERED, instances_per_id=4, ids_per_batch=4, seed=1, num_batches=2, singletons="once")
    order = list(sampler)
    label_runs = [CLUSTERED[i] for i in order[:38]]
    clustered_positions = [p for p, label in enumerate(label_runs) if label < 3]
    # cluster images come in runs of K=4 of one label
    runs = [label_runs[p : p + 4] for p in clustered_positions[::4]]
    assert all(len(set(run)) == 1 for run in runs)


def test_without_singletons_once_a_singleton_fills_k_slots() -> None:
    sampler = IdentitySampler(CLUSTERED, instances_per_id=4, ids_per_batch=4, seed=0, num_batches=20)
    counts = Counter(CLUSTERED[i] for i in sampler)
    singleton_share = sum(n for label, n in counts.items() if label >= 3) / sum(counts.values())
    once = IdentitySampler(CLUSTERED, instances_per_id=4, ids_per_batch=4, seed=0, num_batches=20, singletons="once")
    counts_once = Counter(CLUSTERED[i] for i in once)
    share_once = sum(n for label, n in counts_once.items() if label >= 3) / sum(counts_once.values())
    assert singleton_share > 0.6  # 10 of 17 chunks are singletons x 4
    assert share_once < 0.35  # 10 of 38 images


def test_singletons_once_under_data_parallelism_splits_one_global_order() -> None:
    single = list(IdentitySampler(CLUSTERED, 4, 4, seed=2, num_batches=3, singletons="once"))
    ranks = [list(IdentitySampler(CLUSTERED, 4, 2, seed=2, num_batches=3, singletons="once", rank=r, world_size=2)) for r in (0, 1)]
    for step in range(3):
        merged = ranks[0][step * 8 : step * 8 + 8] + ranks[1][step * 8 : step * 8 + 8]
        assert merged == single[step * 16 : step * 16 + 16]


def test_spcl_passes_draw_every_label_once_k_images_of_a_cluster_from_other_cameras() -> None:
    # two clusters (8 and 5 images, two cameras each) and four singletons
    labels = [0] * 8 + [1] * 5 + [2, 3, 4, 5]
    camids = [0, 1] * 4 + [0, 0, 0, 0, 1] + [0, 1, 0, 1]
    sampler = IdentitySampler(labels, 4, 2, seed=5, num_batches=40, camids=camids, singletons="spcl")
    order = list(sampler)
    # a pass is 4 + 4 + 4 x 1 = 12 images; the first pass holds each label's share exactly
    first = order[:12]
    counts = {label: sum(labels[i] == label for i in first) for label in set(labels)}
    assert counts == {0: 4, 1: 4, 2: 1, 3: 1, 4: 1, 5: 1}
    # within a cluster's run of K, the anchor's followers come from the other camera
    runs = [order[i : i + 4] for i in range(len(order) - 3) if labels[order[i]] in (0, 1) and (i == 0 or labels[order[i - 1]] != labels[order[i]])]
    for run in runs[:20]:
        if len({labels[i] for i in run}) == 1:
            anchor, followers = run[0], run[1:]
            assert all(camids[i] != camids[anchor] for i in followers)


def test_spcl_batches_hold_more_singletons_than_once_batches() -> None:
    labels = [0] * 40 + [1] * 40 + list(range(2, 42))  # two big clusters, forty singletons
    def singleton_share(mode: str) -> float:
        order = list(IdentitySampler(labels, 4, 4, seed=0, num_batches=50, singletons=mode))
        return sum(labels[i] >= 2 for i in order) / len(order)
    assert singleton_share("spcl") > 0.8 > 0.4 > singleton_share("once")


def test_an_unknown_singleton_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="singletons must be one of k, once, spcl, got 'twice'"):
        IdentitySampler([0, 0, 1, 1], 2, 2, seed=0, singletons="twice")

"""CycleGAN's image pool: filling, the swap rule, pass-through, checkpoint round trip."""

from __future__ import annotations

import pytest
import torch

from reidkit.adapters.translation.image_pool import ImagePool


def _batch(first: int, n: int) -> torch.Tensor:
    """n images whose pixels all equal their id, so an output image tells where it came from."""
    ids = torch.arange(first, first + n, dtype=torch.float32)
    return ids.view(n, 1, 1, 1).expand(n, 3, 4, 2).clone()


def _ids(images: torch.Tensor) -> list[int]:
    return [int(im[0, 0, 0]) for im in images]


def _stored(pool: ImagePool) -> list[int]:
    return _ids(pool.state_dict()["images"])


def test_fills_up_to_size_returning_its_inputs():
    pool = ImagePool(5, seed=0)
    first = _batch(0, 3)
    assert torch.equal(pool.query(first), first)
    second = _batch(3, 2)
    assert torch.equal(pool.query(second), second)
    assert len(pool) == 5 and _stored(pool) == [0, 1, 2, 3, 4]


def test_stored_images_are_copies():
    pool = ImagePool(2)
    images = _batch(0, 2)
    pool.query(images)
    images.fill_(9.0)
    assert _stored(pool) == [0, 1]


def test_full_pool_swaps_or_passes_through():
    size = 4
    pool = ImagePool(size, seed=3)
    pool.query(_batch(0, size))
    swaps, next_id, queries = 0, size, 2000
    for _ in range(queries // 4):
        before = _stored(pool)
        out = _ids(pool.query(_batch(next_id, 4)))
        new = list(range(next_id, next_id + 4))
        for got, fresh in zip(out, new):
            if got == fresh:
                continue
            swaps += 1
            # A returned old image was in the pool (or stored earlier in this batch), and the new
            # image has taken a slot.
            assert got in before or got in new
        after = _stored(pool)
        assert len(after) == size
        # Every image now in the pool was there before or is one of this batch.
        assert all(i in before or i in new for i in after)
        # Swapped-in images are exactly the new ones not returned, and what was swapped out
        # left the pool.
        assert sorted(i for i in new if i not in out) == sorted(i for i in after if i in new)
        assert all(i not in after for i in out if i not in new)
        next_id += 4
    assert 0.45 < swaps / queries < 0.55


def test_swap_puts_the_new_image_in_the_returned_images_slot():
    pool = ImagePool(3, seed=1)
    pool.query(_batch(0, 3))
    for next_id in range(3, 60):
        before = _stored(pool)
        (got,) = _ids(pool.query(_batch(next_id, 1)))
        after = _stored(pool)
        if got == next_id:
            assert after == before
        else:
            slot = before.index(got)
            assert after == before[:slot] + [next_id] + before[slot + 1 :]


def test_size_zero_passes_through():
    pool = ImagePool(0)
    images = _batch(0, 3)
    assert pool.query(images) is images
    assert len(pool) == 0


def test_output_keeps_dtype_and_is_detached():
    pool = ImagePool(2, seed=0)
    images = _batch(0, 4).to(torch.float64).requires_grad_(True)
    out = pool.query(images)
    assert out.dtype == torch.float64 and out.shape == images.shape and not out.requires_grad


def test_state_dict_round_trip_gives_identical_future_outputs():
    reference = ImagePool(4, seed=7)
    resumed_from = ImagePool(4, seed=7)
    for step in range(5):
        reference.query(_batch(10 * step, 3))
        resumed_from.query(_batch(10 * step, 3))
    state = resumed_from.state_dict()
    restored = ImagePool(4, seed=123)  # a different seed: the state must override it
    restored.load_state_dict(state)
    assert len(restored) == 4
    for step in range(5, 30):
        assert torch.equal(reference.query(_batch(10 * step, 3)), restored.query(_batch(10 * step, 3)))


def test_empty_state_round_trip():
    pool = ImagePool(3, seed=5)
    state = pool.state_dict()
    assert state["images"].numel() == 0
    fresh = ImagePool(3, seed=0)
    fresh.load_state_dict(state)
    assert len(fresh) == 0


def test_refuses_a_state_from_a_bigger_pool():
    big = ImagePool(4)
    big.query(_batch(0, 4))
    with pytest.raises(ValueError, match="size"):
        ImagePool(2).load_state_dict(big.state_dict())


def test_leaves_the_global_rng_alone():
    pool = ImagePool(2, seed=0)
    rng = torch.get_rng_state()
    for step in range(20):
        pool.query(_batch(3 * step, 3))
    assert torch.equal(torch.get_rng_state(), rng)


def test_refuses_a_negative_size():
    with pytest.raises(ValueError, match="-1"):
        ImagePool(-1)

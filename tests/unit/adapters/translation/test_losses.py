"""LSGAN, contrastive and SPGAN losses against values computed by hand."""

from __future__ import annotations

import pytest
import torch

from reidkit.adapters.translation.losses import (
    contrastive_loss,
    lsgan_loss,
    spgan_generator_metric_loss,
    spgan_metric_loss,
)

EPS = 1e-6  # pairwise_distance adds it to each coordinate difference


def identity(x: torch.Tensor) -> torch.Tensor:
    return x


def test_lsgan_against_hand_values():
    pred = torch.tensor([0.0, 1.0, 2.0, -1.0, 0.5, 0.5, 1.0, 3.0]).reshape(2, 1, 2, 2)
    # real: (1 + 0 + 1 + 4 + .25 + .25 + 0 + 4) / 8; fake: (0 + 1 + 4 + 1 + .25 + .25 + 1 + 9) / 8
    assert float(lsgan_loss(pred, True)) == pytest.approx(10.5 / 8)
    assert float(lsgan_loss(pred, False)) == pytest.approx(16.5 / 8)


def test_lsgan_is_float32_from_bf16():
    pred = torch.full((1, 1, 2, 2), 0.5, dtype=torch.bfloat16, requires_grad=True)
    loss = lsgan_loss(pred, True)
    assert loss.dtype == torch.float32
    loss.backward()
    assert pred.grad is not None


# Row pairs at distances 1 and 3.
A = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
B = torch.tensor([[1.0, 0.0], [1.0, 4.0]])


def test_contrastive_same_is_the_mean_squared_distance():
    assert float(contrastive_loss(A, B, same=True)) == pytest.approx((1 + 9) / 2, rel=1e-5)


def test_contrastive_not_same_clamps_beyond_the_margin():
    # margin 2: distance 1 costs (2 - 1)^2 = 1, distance 3 costs 0.
    assert float(contrastive_loss(A, B, same=False, margin=2.0)) == pytest.approx(0.5, rel=1e-5)
    # margin 4: (4 - 1)^2 and (4 - 3)^2.
    assert float(contrastive_loss(A, B, same=False, margin=4.0)) == pytest.approx(5.0, rel=1e-5)


def test_contrastive_far_negative_has_no_gradient():
    a = torch.tensor([[0.0, 0.0]], requires_grad=True)
    b = torch.tensor([[0.0, 5.0]])
    loss = contrastive_loss(a, b, same=False, margin=2.0)
    loss.backward()
    assert loss.item() == 0.0 and torch.count_nonzero(a.grad) == 0


@pytest.mark.parametrize("margin", [0.0, -1.0])
def test_contrastive_refuses_a_non_positive_margin(margin):
    with pytest.raises(ValueError, match="margin"):
        contrastive_loss(A, B, same=False, margin=margin)


def test_contrastive_refuses_mismatched_shapes():
    with pytest.raises(ValueError):
        contrastive_loss(A, B[:1], same=True)


# One-row "images" on a line (identity metric), so every distance is a difference.
REAL_A = torch.tensor([[0.0]])
REAL_B = torch.tensor([[3.0]])
FAKE_A = torch.tensor([[2.5]])  # F(real_b): 0.5 from real_b, 2.5 from real_a
FAKE_B = torch.tensor([[1.0]])  # G(real_a): 1 from real_a, 2 from real_b


def _close(x: float) -> float:
    return pytest.approx(x, abs=1e-4)


def test_spgan_generator_combination_by_hand():
    pos_ab, pos_ba = 1.0**2, 0.5**2
    neg_b = max(0.0, 2.0 - 2.0) ** 2  # |fake_b - real_b| = 2: at the margin, free
    neg_a = max(0.0, 2.0 - 2.5) ** 2  # |fake_a - real_a| = 2.5: beyond the margin, free
    expected = (pos_ab + pos_ba + 0.5 * (neg_b + neg_a)) / 4
    got = spgan_generator_metric_loss(identity, REAL_A, REAL_B, FAKE_A, FAKE_B)
    assert float(got) == _close(expected) == _close(1.25 / 4)
    # margin 3: the negatives cost (3 - 2)^2 and (3 - 2.5)^2.
    got = spgan_generator_metric_loss(identity, REAL_A, REAL_B, FAKE_A, FAKE_B, margin=3.0)
    assert float(got) == _close((1.0 + 0.25 + 0.5 * (1.0 + 0.25)) / 4)


def test_spgan_metric_combination_by_hand():
    # positives as above; the negative pair (real_a, real_b) at 3: margin 4 costs 1.
    got = spgan_metric_loss(identity, REAL_A, REAL_B, FAKE_A, FAKE_B, margin=4.0)
    assert float(got) == _close((1.0 + 0.25 + 2 * 1.0) / 3)
    got = spgan_metric_loss(identity, REAL_A, REAL_B, FAKE_A, FAKE_B, margin=2.0)
    assert float(got) == _close((1.0 + 0.25) / 3)


def _fakes() -> tuple[torch.Tensor, torch.Tensor]:
    return FAKE_A.clone().requires_grad_(True), FAKE_B.clone().requires_grad_(True)


def test_metric_loss_sends_no_gradient_to_the_fakes():
    fake_a, fake_b = _fakes()
    real_a = REAL_A.clone().requires_grad_(True)
    spgan_metric_loss(identity, real_a, REAL_B, fake_a, fake_b, margin=4.0).backward()
    assert fake_a.grad is None and fake_b.grad is None
    assert real_a.grad is not None  # the metric side still learns


def test_generator_metric_loss_sends_gradient_to_the_fakes():
    fake_a, fake_b = _fakes()
    spgan_generator_metric_loss(identity, REAL_A, REAL_B, fake_a, fake_b, margin=3.0).backward()
    assert fake_a.grad is not None and torch.count_nonzero(fake_a.grad) == 1
    assert fake_b.grad is not None and torch.count_nonzero(fake_b.grad) == 1

"""The mask head's targets and losses against hand-computed values (issue 21)."""

from __future__ import annotations

import math

import pytest
import torch

from reidkit.adapters.losses.mask import gaussian_targets, mask_combined, mask_focal, mask_loss, mask_mse


def test_a_gaussian_target_peaks_at_the_box_centre_with_sigma_a_share_of_the_box():
    # box centre (0.5, 0.5) on a 4x4 grid of pixel centres 0.125, 0.375, 0.625, 0.875
    box = torch.tensor([[0.25, 0.25, 0.75, 0.75]])
    target = gaussian_targets(box, 4, 4, sigma_ratio=0.5)  # sigma = 0.25 both ways
    assert target.shape == (1, 1, 4, 4)
    near = math.exp(-0.5 * 2 * (0.125 / 0.25) ** 2)  # the four centre pixels, 0.125 off in x and y
    far = math.exp(-0.5 * ((0.375 / 0.25) ** 2 + (0.125 / 0.25) ** 2))
    assert float(target[0, 0, 1, 1]) == pytest.approx(near)
    assert float(target[0, 0, 0, 1]) == pytest.approx(far)
    assert float(target.max()) <= 1.0


def test_a_row_without_a_box_has_an_all_zero_target():
    boxes = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.1, 0.2, 0.6, 0.9]])
    target = gaussian_targets(boxes, 64, 48)
    assert float(target[0].abs().sum()) == 0.0 and float(target[1].max()) > 0.5


def test_the_target_of_a_flipped_box_is_the_flipped_target():
    box = torch.tensor([[0.1, 0.2, 0.5, 0.9]])
    flipped = torch.tensor([[1 - 0.5, 0.2, 1 - 0.1, 0.9]])
    assert torch.allclose(gaussian_targets(flipped, 16, 8), gaussian_targets(box, 16, 8).flip(-1), atol=1e-6)


def test_the_target_of_a_cropped_box_is_the_crop_of_the_target():
    # a 16x16 image, a crop of its 8x8 lower-right quarter: the box moves and scales with the crop
    # (sigma is a share of the box, so it scales too)
    box = torch.tensor([[0.5, 0.5, 1.0, 1.0]])
    in_crop = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    full = gaussian_targets(box, 16, 16)
    assert torch.allclose(gaussian_targets(in_crop, 8, 8), full[..., 8:, 8:], atol=1e-6)


def test_mse_supervises_the_background_too():
    target = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])  # one foreground pixel
    everywhere = torch.ones_like(target)  # a head predicting foreground everywhere
    nowhere = torch.zeros_like(target)
    # everywhere: foreground error 0, background mean p^2 = 1
    assert float(mask_mse(everywhere, target)) == pytest.approx(1.0)
    assert float(mask_mse(everywhere, target, background_weight=0.5)) == pytest.approx(0.5)
    # nowhere: foreground error 1, background 0
    assert float(mask_mse(nowhere, target)) == pytest.approx(1.0)
    assert float(mask_mse(target, target)) == 0.0


def test_mse_averages_per_sample_so_a_large_bag_does_not_outweigh_a_small_one():
    small = torch.zeros(1, 1, 2, 2)
    small[0, 0, 0, 0] = 1.0
    large = torch.ones(1, 1, 2, 2)
    large[0, 0, 1, 1] = 0.0
    target = torch.cat([small, large])
    prediction = torch.cat([torch.full_like(small, 0.5), torch.full_like(large, 0.5)])
    # sample 1: fg (1 px) error 0.25, bg (3 px) p^2 0.25 -> 0.5; sample 2: fg (3 px) 0.25, bg (1 px) 0.25 -> 0.5
    assert float(mask_mse(prediction, target)) == pytest.approx(0.5)


def test_focal_for_soft_targets_by_hand():
    p, t = 0.8, 0.6
    prediction = torch.full((1, 1, 1, 2), p)
    target = torch.tensor([[[[t, 1.0]]]])
    soft = abs(t - p) ** 2 * -(t * math.log(p) + (1 - t) * math.log(1 - p))
    hard = abs(1 - p) ** 2 * -math.log(p)  # a hard target: the focal loss with alpha 1
    assert float(mask_focal(prediction, target)) == pytest.approx((soft + hard) / 2)
    assert float(mask_focal(target, target)) == pytest.approx(0.0, abs=1e-6)  # p = t costs nothing


def test_combined_is_the_sum_and_the_names_select_the_losses():
    torch.manual_seed(0)
    prediction = torch.rand(2, 1, 4, 4)
    target = gaussian_targets(torch.tensor([[0.2, 0.2, 0.8, 0.8], [0.0, 0.3, 0.5, 1.0]]), 4, 4)
    total = float(mask_mse(prediction, target)) + float(mask_focal(prediction, target))
    assert float(mask_combined(prediction, target)) == pytest.approx(total)
    assert float(mask_loss("combined", prediction, target)) == pytest.approx(total)
    assert float(mask_loss("mse", prediction, target)) == pytest.approx(float(mask_mse(prediction, target)))
    with pytest.raises(ValueError, match="mask loss must be one of"):
        mask_loss("dice", prediction, target)


def test_shapes_and_settings_are_checked():
    with pytest.raises(ValueError, match="differ in shape"):
        mask_mse(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 3))
    with pytest.raises(ValueError, match="boxes must be"):
        gaussian_targets(torch.zeros(2, 3), 4, 4)
    with pytest.raises(ValueError, match="threshold"):
        mask_mse(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), threshold=0.0)

"""The evaluation grid: layout, exact pixels, white gutters, and the one-line shape errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reidkit.adapters.translation.grid import grid_tensor, image_grid, to_pil


def _batch(n: int, value: float, h: int = 6, w: int = 4) -> torch.Tensor:
    return torch.full((n, 3, h, w), value)


def test_to_pil_maps_the_range_ends_and_rounds():
    image = torch.empty(3, 2, 2)
    image[:, 0, 0] = -1.0
    image[:, 0, 1] = 1.0
    image[:, 1, 0] = torch.tensor([2 * 100 / 255 - 1, 2 * 7 / 255 - 1, 2 * 254 / 255 - 1])
    image[:, 1, 1] = torch.tensor([-3.0, 5.0, 0.0])  # out of range: clamped; 0 -> round(127.5) = 128
    pixels = np.asarray(to_pil(image.double()))
    assert to_pil(image).mode == "RGB"
    assert pixels[0, 0].tolist() == [0, 0, 0]
    assert pixels[0, 1].tolist() == [255, 255, 255]
    assert pixels[1, 0].tolist() == [100, 7, 254]
    assert pixels[1, 1].tolist() == [0, 255, 128]


def test_to_pil_refuses_a_batch():
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        to_pil(torch.zeros(1, 3, 4, 4))


@pytest.mark.parametrize("gap", [0, 2, 5])
def test_grid_size_is_cells_plus_gutters(gap):
    columns = [_batch(3, 0.0, h=6, w=4) for _ in range(4)]
    grid = image_grid(columns, gap=gap)
    assert grid.size == (4 * 4 + 3 * gap, 3 * 6 + 2 * gap)


def test_cells_hold_their_images_and_the_gutter_is_white():
    h, w, gap = 6, 4, 2
    black, white = _batch(2, -1.0, h, w), _batch(2, 1.0, h, w)
    known = torch.rand(2, 3, h, w) * 2 - 1
    pixels = np.asarray(image_grid([black, known, white], gap=gap))
    for row in range(2):
        top = row * (h + gap)
        cells = [pixels[top : top + h, col * (w + gap) : col * (w + gap) + w] for col in range(3)]
        assert (cells[0] == 0).all()
        assert (cells[2] == 255).all()
        assert np.array_equal(cells[1], np.asarray(to_pil(known[row])))
    assert (pixels[h : h + gap, :] == 255).all()  # between rows
    assert (pixels[:, w : w + gap] == 255).all()  # between columns 0 and 1
    assert (pixels[:, 2 * w + gap : 2 * w + 2 * gap] == 255).all()  # between columns 1 and 2


def test_rows_follow_the_batch_index():
    first = torch.stack([torch.full((3, 5, 5), -1.0), torch.full((3, 5, 5), 1.0)])
    pixels = np.asarray(image_grid([first], gap=1))
    assert (pixels[:5] == 0).all() and (pixels[6:] == 255).all()


def test_mismatched_column_is_named_on_one_line():
    with pytest.raises(ValueError) as caught:
        image_grid([_batch(2, 0.0), _batch(2, 0.0), _batch(3, 0.0)])
    message = str(caught.value)
    assert "\n" not in message
    assert "column 2" in message and "(3, 3, 6, 4)" in message


def test_empty_column_is_named_on_one_line():
    with pytest.raises(ValueError) as caught:
        image_grid([_batch(2, 0.0), torch.zeros(0, 3, 6, 4)])
    message = str(caught.value)
    assert "\n" not in message and "column 1" in message and "(0, 3, 6, 4)" in message


def test_no_columns_is_refused():
    with pytest.raises(ValueError):
        image_grid([])


def test_grid_tensor_is_chw_in_unit_range():
    grid = image_grid([_batch(2, -1.0), _batch(2, 1.0)], gap=3)
    tensor = grid_tensor(grid)
    assert tensor.dtype == torch.float32
    assert tensor.shape == (3, grid.size[1], grid.size[0])
    assert tensor.min().item() == 0.0 and tensor.max().item() == 1.0
    assert torch.equal(tensor[:, 0, 0], torch.zeros(3))  # black cell corner
    assert torch.equal(tensor[:, 0, 4 + 1], torch.ones(3))  # gutter

"""The translation preview: a grid (source | translated | cycled back | target) written after the
epochs the schedule evaluates, leaving the generators as it found them; the previewed images are
drawn once from a seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reidkit.adapters.data.market import TRAIN_DIR, read_market
from reidkit.adapters.translation.networks import ResnetGenerator, init_gan_weights
from reidkit.adapters.translation.preview import PREVIEW_DIR, TranslationPreview, preview_images
from reidkit.application.epoch_loop import Schedule
from tests.support.dataset_trees import market_name
from tests.support.market_folders import market_images

H, W = 32, 16
GAP = 2


def generator(seed: int) -> ResnetGenerator:
    net = ResnetGenerator(blocks=1, width=4)
    init_gan_weights(net, seed=seed)
    return net


def batch(n: int, seed: int) -> torch.Tensor:
    return torch.rand(n, 3, H, W, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def make(run_dir: Path, *, rows: int = 3, targets: int = 2, every: int = 2, epochs: int = 5, tensorboard: bool = False,
         to_target: torch.nn.Module | None = None, to_source: torch.nn.Module | None = None) -> TranslationPreview:
    return TranslationPreview(
        to_target if to_target is not None else generator(0),
        to_source if to_source is not None else generator(1),
        batch(rows, 10),
        batch(targets, 11),
        run_dir,
        evaluates_after=Schedule(epochs=epochs, eval_every=every).evaluates_after,
        tensorboard=tensorboard,
    )


def cell(grid: np.ndarray, row: int, column: int) -> np.ndarray:
    top, left = row * (H + GAP), column * (W + GAP)
    return grid[top : top + H, left : left + W]


def as_bytes(images: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [-1, 1] to (H, W, 3) uint8, rounded as the grid rounds."""
    return torch.round((images.clamp(-1, 1) + 1) * 127.5).to(torch.uint8).permute(1, 2, 0).numpy()


def test_previews_are_written_only_after_the_evaluated_epochs(tmp_path):
    preview = make(tmp_path, every=2, epochs=5)
    for epoch in range(5):
        preview.on_epoch_end(epoch)
    folder = tmp_path / PREVIEW_DIR
    # Schedule(5, eval_every=2) evaluates after epochs 1, 3 (every 2nd) and 4 (the last): 1-based 2, 4, 5.
    assert sorted(p.name for p in folder.iterdir()) == ["epoch_002.png", "epoch_004.png", "epoch_005.png"]
    assert preview.written == [folder / "epoch_002.png", folder / "epoch_004.png", folder / "epoch_005.png"]
    assert not (tmp_path / "events").exists()  # tensorboard=False


def test_nothing_is_written_when_no_epoch_is_picked(tmp_path):
    preview = TranslationPreview(generator(0), generator(1), batch(2, 0), batch(2, 1), tmp_path,
                                 evaluates_after=lambda epoch: False, tensorboard=False)
    for epoch in range(3):
        preview.on_epoch_end(epoch)
    assert not (tmp_path / PREVIEW_DIR).exists()
    assert preview.written == []


def test_the_grid_has_four_columns_and_one_row_per_source_image(tmp_path):
    to_target, to_source = generator(0), generator(1)
    preview = make(tmp_path, rows=3, targets=2, every=1, to_target=to_target, to_source=to_source)
    preview.on_epoch_end(0)
    with Image.open(tmp_path / PREVIEW_DIR / "epoch_001.png") as image:
        assert image.size == (4 * W + 3 * GAP, 3 * H + 2 * GAP)
        grid = np.asarray(image.convert("RGB"))

    with torch.no_grad():
        translated = to_target.eval()(preview.source)
        cycled = to_source.eval()(translated)
    for row in range(3):
        assert np.array_equal(cell(grid, row, 0), as_bytes(preview.source[row]))
        assert np.array_equal(cell(grid, row, 1), as_bytes(translated[row]))
        assert np.array_equal(cell(grid, row, 2), as_bytes(cycled[row]))
        # Fewer target images than rows: they repeat.
        assert np.array_equal(cell(grid, row, 3), as_bytes(preview.target[row % 2]))
    assert (grid[H : H + GAP] == 255).all()  # the white gutter between rows
    assert (grid[:, W : W + GAP] == 255).all()  # ... and between columns


@pytest.mark.parametrize("training", [True, False])
def test_the_generators_run_in_eval_mode_and_are_left_as_they_were(tmp_path, training):
    to_target, to_source = generator(0).train(training), generator(1).train(training)
    modes: list[bool] = []
    for net in (to_target, to_source):
        net.register_forward_hook(lambda module, inputs, output: modes.append(module.training))
    preview = make(tmp_path, every=1, to_target=to_target, to_source=to_source)
    preview.on_epoch_end(0)
    assert modes == [False, False]
    assert to_target.training is training and to_source.training is training
    assert all(m.training is training for net in (to_target, to_source) for m in net.modules())


def test_the_preview_does_not_change_the_generators(tmp_path):
    to_target = generator(0)
    before = [p.detach().clone() for p in to_target.parameters()]
    make(tmp_path, every=1, to_target=to_target).on_epoch_end(0)
    assert all(torch.equal(a, b) for a, b in zip(before, to_target.parameters(), strict=True))


def test_with_tensorboard_an_events_file_appears(tmp_path):
    preview = make(tmp_path, every=1, tensorboard=True)
    preview.on_epoch_end(0)
    events = list((tmp_path / "events").glob("events.out.tfevents.*"))
    assert events and all(e.stat().st_size > 0 for e in events)
    assert (tmp_path / PREVIEW_DIR / "epoch_001.png").is_file()


# -- the previewed images ------------------------------------------------------------------------


@pytest.fixture
def records(tmp_path):
    files = {TRAIN_DIR: [market_name(pid, cam, 10 * pid + cam) for pid in (1, 2, 3, 4) for cam in (1, 2)],
             "query": [market_name(9, 1, 900)], "bounding_box_test": [market_name(9, 2, 901)]}
    return read_market(market_images(tmp_path / "market", files, size=(12, 24))).train


def test_preview_images_draws_the_same_images_for_the_same_seed(records):
    first = preview_images(records, 3, seed=5, height=H, width=W)
    assert first.shape == (3, 3, H, W)
    assert first.min() >= -1 and first.max() <= 1
    assert torch.equal(first, preview_images(records, 3, seed=5, height=H, width=W))
    others = [preview_images(records, 3, seed=s, height=H, width=W) for s in range(6, 12)]
    assert any(not torch.equal(first, other) for other in others)  # the seed picks the images
    # No image twice: each drawn image is one of the records, once.
    everything = preview_images(records, len(records), seed=0, height=H, width=W)
    picked = [int(np.argmin([(image - e).abs().sum() for e in everything])) for image in first]
    assert len(set(picked)) == 3


def test_preview_images_takes_all_when_asked_for_more_and_refuses_none(records):
    assert preview_images(records, 100, seed=0, height=H, width=W).shape == (len(records), 3, H, W)
    with pytest.raises(ValueError, match="no images"):
        preview_images([], 3, seed=0, height=H, width=W)

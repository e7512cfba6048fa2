"""Frame sampling per tracklet (Torchreid's VideoDataset) and video batches: b tracklets x s frames
are b*s images, each labelled with its tracklet's pid; repeatable per (seed, epoch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reidkit.adapters.data.batches import identity_batches
from reidkit.adapters.data.datasets import TrackletDataset, collate_frames
from reidkit.adapters.data.frames import FrameSampling, at_random, evenly
from reidkit.adapters.data.loading import LoaderOptions
from reidkit.adapters.data.transforms import build_test_transform, build_train_transform
from reidkit.domain.types import ImageRecord, Tracklet


@pytest.mark.parametrize(
    ("length", "seq_len", "expected"),
    [
        (15, 15, list(range(15))),
        (31, 15, list(range(0, 30, 2))),  # cut to 30 frames, stride 2: frame 30 never read
        (44, 15, list(range(0, 30, 2))),  # cut to 30 again
        (45, 15, list(range(0, 45, 3))),
        (4, 15, [0, 1, 2, 3] + [3] * 11),  # short: padded with the last frame
        (1, 3, [0, 0, 0]),
    ],
)
def test_evenly_is_torchreids(length: int, seq_len: int, expected: list[int]) -> None:
    assert evenly(length, seq_len) == expected


def test_random_draws_without_replacement_unless_short_and_sorts() -> None:
    asked = []

    def draw(n: int, k: int, replace: bool) -> list[int]:
        asked.append((n, k, replace))
        return list(np.random.default_rng(0).choice(n, size=k, replace=replace))

    long = at_random(20, 15, draw)
    assert long == sorted(long) and len(set(long)) == 15
    short = at_random(4, 15, draw)
    assert short == sorted(short) and len(short) == 15 and set(short) <= {0, 1, 2, 3}
    assert asked == [(20, 15, False), (4, 15, True)]


def test_all_reads_every_frame_and_settings_are_checked() -> None:
    assert FrameSampling(seq_len=4, sample="all").indices(7) == list(range(7))
    with pytest.raises(ValueError):
        FrameSampling(sample="middle")
    with pytest.raises(ValueError):
        FrameSampling(seq_len=0)
    with pytest.raises(ValueError, match="needs a draw"):
        FrameSampling(sample="random").indices(5)


def _tracklets(tmp_path: Path, lengths: list[int]) -> list[Tracklet]:
    out = []
    for t, length in enumerate(lengths):
        frames = []
        for f in range(length):
            path = tmp_path / f"t{t}_f{f}.png"
            # every pixel of frame f of tracklet t is 10 t + f: the batches say which frame they hold
            Image.fromarray(np.full((8, 4, 3), 10 * t + f, dtype=np.uint8), "RGB").save(path)
            frames.append(str(path))
        out.append(Tracklet(frames, pid=t // 2, camid=t % 2))
    return out


def _frame_ids(images: torch.Tensor) -> list[int]:
    """Which (10 t + f) each image of a batch made with the identity test transform is."""
    return [round(float(v) * 255) for v in images[:, 0, 0, 0]]


def test_tracklet_items_hold_the_sampled_frames_and_collate_lays_them_out_as_images(tmp_path: Path) -> None:
    tracklets = _tracklets(tmp_path, [5, 2])
    plain = build_test_transform(8, 4, mean=(0, 0, 0), std=(1, 1, 1))
    data = TrackletDataset(tracklets, plain, FrameSampling(seq_len=3, sample="evenly"))
    first = data[0]
    assert first["image"].shape == (3, 3, 8, 4) and first["label"] == 0
    batch = collate_frames([data[0], data[1]])
    assert _frame_ids(batch["image"]) == [0, 1, 2, 10, 11, 11]  # 5 frames cut to 3; 2 padded
    assert batch["label"].tolist() == [0, 0, 0, 0, 0, 0]
    assert batch["index"].tolist() == [0, 0, 0, 1, 1, 1] and batch["camid"].tolist() == [0, 0, 0, 1, 1, 1]
    every = TrackletDataset(tracklets, plain, FrameSampling(sample="all"))
    assert _frame_ids(collate_frames([every[1], every[0]])["image"]) == [10, 11, 0, 1, 2, 3, 4]
    with pytest.raises(TypeError, match="needs Tracklet records"):
        TrackletDataset([ImageRecord("x", 0, 0)], plain, FrameSampling())


@pytest.mark.parametrize("workers", [0, 1])
def test_identity_batches_of_tracklets_are_p_x_k_x_seq_len_images_repeatable_per_epoch(tmp_path: Path, workers: int) -> None:
    tracklets = _tracklets(tmp_path, [6, 1, 3, 4, 2, 5, 3, 3])  # pids 0..3, two tracklets each
    loading = LoaderOptions(num_workers=workers, persistent_workers=workers > 0, prefetch_factor=2 if workers else None)

    def source():  # noqa: ANN202
        return identity_batches(
            tracklets, build_train_transform(8, 4, pad=1, erasing_p=0.0), ids_per_batch=2, instances_per_id=2, seed=3,
            num_batches=2, loading=loading, frames=FrameSampling(seq_len=4, sample="random"),
        )  # fmt: skip

    first = source()
    batches = list(first.epoch(1))
    assert len(batches) == 2
    for batch in batches:
        assert batch.images.shape == (2 * 2 * 4, 3, 8, 4)
        labels = batch.labels.tolist()
        assert all(labels[i : i + 4] == [labels[i]] * 4 for i in range(0, 16, 4))  # a tracklet's frames share its pid
        assert len(set(labels)) == 2
        assert [tracklets[i].pid for i in batch.indexes.tolist()] == labels
    again = list(source().epoch(1))
    assert all(torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels) for a, b in zip(batches, again))
    first.close()

"""Screening a video training split: every frame of every tracklet is decoded; with 'skip' a
tracklet keeps its good frames, and one left without any goes (pids relabelled)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reidkit.adapters.data.scan import screen_training_images
from reidkit.domain.errors import DatasetError
from reidkit.domain.types import ReidDataset, Tracklet


def _frames(tmp_path: Path, names: list[str], broken: set[str]) -> list[str]:
    paths = []
    for name in names:
        path = tmp_path / name
        if name in broken:
            path.write_bytes(b"not a jpeg")
        else:
            Image.fromarray(np.zeros((8, 4, 3), dtype=np.uint8)).save(path, format="JPEG")
        paths.append(str(path))
    return paths


def test_tracklets_keep_their_good_frames_and_empty_ones_go(tmp_path: Path) -> None:
    broken = {"a2.jpg", "b1.jpg", "b2.jpg"}
    train = [
        Tracklet(_frames(tmp_path, ["a1.jpg", "a2.jpg", "a3.jpg"], broken), pid=0, camid=0, domain="v"),
        Tracklet(_frames(tmp_path, ["b1.jpg", "b2.jpg"], broken), pid=1, camid=1, domain="v"),
        Tracklet(_frames(tmp_path, ["c1.jpg"], broken), pid=2, camid=0, domain="v"),
    ]
    data = ReidDataset("v", train, (), ())
    with pytest.raises(DatasetError, match="3 of 6 training images of domain 'v' cannot be read"):
        screen_training_images(data, "fail", tmp_path / "run")
    kept = screen_training_images(data, "skip", tmp_path / "run").train
    assert [[Path(f).name for f in t.frames] for t in kept] == [["a1.jpg", "a3.jpg"], ["c1.jpg"]]
    assert [t.pid for t in kept] == [0, 1] and all(isinstance(t, Tracklet) for t in kept)

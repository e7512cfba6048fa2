"""ImageDataset items and picklability (DataLoader workers receive it by pickle)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reidkit.adapters.data.datasets import ImageDataset
from reidkit.adapters.data.transforms import build_test_transform
from reidkit.domain.errors import ImageLoadError
from reidkit.domain.types import ImageRecord


def _records(tmp_path: Path) -> list[ImageRecord]:
    records = []
    for i, (pid, camid) in enumerate([(3, 0), (3, 1), (8, 2)]):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (8, 16), (40 * i, 20, 200 - 40 * i)).save(path)
        records.append(ImageRecord(str(path), pid, camid, "d"))
    return records


def test_item_holds_image_label_camid_and_index(tmp_path: Path) -> None:
    dataset = ImageDataset(_records(tmp_path), build_test_transform(16, 8))
    item = dataset[2]
    assert set(item) == {"image", "label", "camid", "index"}
    assert item["image"].shape == (3, 16, 8)
    assert (item["label"], item["camid"], item["index"]) == (8, 2, 2)
    assert len(dataset) == 3


def test_given_labels_replace_the_pids(tmp_path: Path) -> None:
    dataset = ImageDataset(_records(tmp_path), build_test_transform(16, 8), labels=np.array([-1, 0, 1]))
    assert [dataset[i]["label"] for i in range(3)] == [-1, 0, 1]
    assert all(type(dataset[i]["label"]) is int for i in range(3))


def test_label_count_must_match(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="got 2 labels for 3 records"):
        ImageDataset(_records(tmp_path), build_test_transform(16, 8), labels=[0, 1])


def test_pickles_with_its_transform(tmp_path: Path) -> None:
    dataset = ImageDataset(_records(tmp_path), build_test_transform(16, 8), labels=[5, 6, 7])
    clone = pickle.loads(pickle.dumps(dataset))
    assert clone[1]["label"] == 6
    assert torch.equal(clone[1]["image"], dataset[1]["image"])


def test_a_broken_file_surfaces_as_image_load_error(tmp_path: Path) -> None:
    records = _records(tmp_path)
    Path(records[1].path).write_bytes(b"nope")
    dataset = ImageDataset(records, build_test_transform(16, 8))
    with pytest.raises(ImageLoadError, match=r"1\.png"):
        dataset[1]

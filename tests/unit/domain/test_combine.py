"""Several training splits as one: identities and cameras side by side, records numbered by dataset."""

from __future__ import annotations

import pytest

from reidkit.domain.combine import combined_training_split
from reidkit.domain.types import ImageRecord, ReidDataset


def _dataset(name: str, pids: list[int], camids: list[int]) -> ReidDataset:
    train = [ImageRecord(f"{name}/{i}.jpg", pid, cam, domain=name) for i, (pid, cam) in enumerate(zip(pids, camids))]
    return ReidDataset(name, train, [ImageRecord(f"{name}/q.jpg", 9, 0, domain=name)], [])


def test_identities_and_cameras_follow_those_before_them():
    first = _dataset("a", [0, 0, 1, 2], [0, 3, 1, 0])
    second = _dataset("b", [0, 1, 1], [0, 0, 2])
    combined = combined_training_split([first, second])
    assert combined.name == "a+b"
    assert [r.pid for r in combined.train] == [0, 0, 1, 2, 3, 4, 4]
    assert [r.camid for r in combined.train] == [0, 3, 1, 0, 4, 4, 6]
    assert [r.dataset for r in combined.train] == [0, 0, 0, 0, 1, 1, 1]
    assert [r.domain for r in combined.train] == ["a"] * 4 + ["b"] * 3
    assert combined.num_train_pids == 5 and combined.query == () and combined.gallery == ()


def test_a_split_with_a_missing_identity_does_not_collide():
    # pid 1 was dropped (an unreadable image skipped): the next dataset starts after pid 2
    combined = combined_training_split([_dataset("a", [0, 2], [0, 0]), _dataset("b", [0], [0])])
    assert [r.pid for r in combined.train] == [0, 2, 3]


def test_one_dataset_is_itself_and_none_or_an_empty_one_is_refused():
    one = _dataset("a", [0], [0])
    assert combined_training_split([one]) is one
    with pytest.raises(ValueError, match="no training split to combine"):
        combined_training_split([])
    with pytest.raises(ValueError, match="domain 'e' has no training images to combine"):
        combined_training_split([one, ReidDataset("e", [], [], [])])


def test_combineall_trains_on_query_and_gallery_with_new_labels_and_without_junk():
    from reidkit.domain.combine import combined_all

    train = [ImageRecord("t0", 0, 0), ImageRecord("t1", 1, 1)]
    query = [ImageRecord("q0", 57, 0), ImageRecord("q1", 3, 1)]
    gallery = [ImageRecord("g0", 57, 1), ImageRecord("g1", 0, 2), ImageRecord("g2", 9, 0)]
    combined = combined_all(ReidDataset("m", train, query, gallery), junk_pids=(0,))
    assert [(r.path, r.pid) for r in combined.train] == [
        ("t0", 0), ("t1", 1), ("q0", 4), ("q1", 2), ("g0", 4), ("g2", 3)  # 3 -> 2, 9 -> 3, 57 -> 4; distractor g1 left out
    ]
    assert combined.query == tuple(query) and combined.gallery == tuple(gallery)
    assert [r.camid for r in combined.train] == [0, 1, 0, 1, 1, 0]

"""ReidDataset's statistics: identities, images and cameras per split."""

from __future__ import annotations

from reidkit.domain.types import ImageRecord, ReidDataset


def test_split_statistics_count_distinct_ids_and_cameras_per_split():
    train = [ImageRecord("a", 0, 0), ImageRecord("b", 0, 1), ImageRecord("c", 1, 1)]
    query = [ImageRecord("d", 5, 2)]
    gallery = [ImageRecord("e", 5, 0), ImageRecord("f", 0, 0), ImageRecord("g", 0, 3)]
    dataset = ReidDataset("d", train, query, gallery)
    assert dataset.split_statistics() == [("train", 2, 3, 2), ("query", 1, 1, 1), ("gallery", 2, 3, 2)]

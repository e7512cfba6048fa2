"""Market-style folders from users: missing camera ids, empty splits, queries the gallery cannot
match (counted apart by the evaluation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from structlog.testing import capture_logs

from reidkit.adapters.data.market import queries_without_a_match, read_market
from reidkit.adapters.evaluation.evaluator import RankingEvaluator
from reidkit.domain.errors import DatasetError
from reidkit.domain.types import EmbeddedSet, FeatureMatrix
from tests.support.market_folders import market_layout


@pytest.mark.parametrize("name", ["0001_001.jpg", "0001.jpg", "0001_s1_000001.png"])
def test_a_custom_dataset_without_camera_ids_names_the_file_and_why(tmp_path: Path, name: str) -> None:
    root = market_layout(tmp_path / "mine", {"bounding_box_train": [name], "query": [], "bounding_box_test": []})
    with pytest.raises(DatasetError) as error:
        read_market(root)
    message = str(error.value)
    assert f"'{name}' has no camera id" in message and "bounding_box_train" in message
    assert "<pid>_c<camera>" in message and "\n" not in message


def test_an_empty_split_folder_is_named(tmp_path: Path) -> None:
    root = market_layout(tmp_path / "m", {"bounding_box_train": ["0001_c1s1_000001_00.jpg"], "query": []})
    with pytest.raises(DatasetError, match=r"query holds no usable images"):
        read_market(root)


def test_a_split_of_non_images_only_is_empty(tmp_path: Path) -> None:
    root = market_layout(
        tmp_path / "m", {"bounding_box_train": ["readme.txt", "Thumbs.db", ".0001_c1s1_000001_00.jpg"]}
    )
    with pytest.raises(DatasetError, match=r"bounding_box_train holds no usable images"):
        read_market(root)


def test_queries_the_gallery_cannot_match_are_read_warned_and_counted_apart(tmp_path: Path) -> None:
    # 0003 is not in the gallery; 0004's only gallery image is from the query's own camera.
    query = ["0002_c1s1_000001_00.jpg", "0003_c1s1_000001_00.jpg", "0004_c2s1_000001_00.jpg"]
    gallery = ["0002_c2s1_000002_00.jpg", "0004_c2s1_000002_00.jpg", "0000_c1s1_000003_00.jpg"]
    root = market_layout(tmp_path / "m", {"bounding_box_train": ["0001_c1s1_000001_00.jpg"], "query": query, "bounding_box_test": gallery})
    with capture_logs() as logs:
        dataset = read_market(root)
    assert len(dataset.query) == 3
    unmatched = [Path(q.path).name for q in queries_without_a_match(dataset.query, dataset.gallery)]
    assert unmatched == ["0003_c1s1_000001_00.jpg", "0004_c2s1_000001_00.jpg"]
    (event,) = logs
    assert (event["log_level"], event["queries"], event["of"]) == ("warning", 2, 3)
    assert event["first"] == "0003_c1s1_000001_00.jpg, 0004_c2s1_000001_00.jpg"

    def embedded(records: tuple) -> EmbeddedSet:
        features = np.random.default_rng(len(records)).normal(size=(len(records), 4))
        return EmbeddedSet(FeatureMatrix(features), [r.pid for r in records], [r.camid for r in records])

    metrics = RankingEvaluator(max_rank=3).evaluate(embedded(dataset.query), embedded(dataset.gallery))
    assert (metrics.num_queries, metrics.num_valid_queries) == (3, 1)


def test_a_folder_that_matches_every_query_logs_nothing(tmp_path: Path) -> None:
    root = market_layout(
        tmp_path / "m",
        {
            "bounding_box_train": ["0001_c1s1_000001_00.jpg"],
            "query": ["0002_c1s1_000001_00.jpg"],
            "bounding_box_test": ["0002_c2s1_000001_00.jpg"],
        },
    )
    with capture_logs() as logs:
        read_market(root)
    assert logs == []

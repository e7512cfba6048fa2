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


def test_what_a_split_leaves_out_is_counted_and_logged_once_per_split(tmp_path: Path) -> None:
    root = market_layout(
        tmp_path / "m",
        {
            "bounding_box_train": ["0001_c1s1_000001_00.jpg", "0002_c1s1_000001_00.jpg", "notes.txt", "Thumbs.db", ".hidden.jpg"],
            "query": ["0002_c1s1_000001_00.jpg", "-1_c1s1_000002_00.jpg"],
            "bounding_box_test": ["0002_c2s1_000001_00.jpg", "-1_c1s1_000001_00.jpg", "-1_c2s1_000001_00.jpg"],
        },
    )
    train = root / "bounding_box_train"
    (train / "0003_c1s1_000001_00.jpg").symlink_to(tmp_path / "gone.jpg")  # dangling
    (train / "0004_c1s1_000001_00.jpg").symlink_to(train / "0004_c1s1_000001_00.jpg")  # a loop
    (train / "0005_c1s1_000001_00.jpg").mkdir()  # a folder named like an image
    with capture_logs() as logs:
        dataset = read_market(root)
    assert len(dataset.train) == 2 and len(dataset.query) == 1 and len(dataset.gallery) == 1
    skipped = {Path(e["split"]).name: e for e in logs if e["event"] == "files left out of a split"}
    assert {k: v for k, v in skipped["bounding_box_train"].items() if k not in ("split", "event")} == {
        "log_level": "info", "images": 2, "other_extensions": 2, "hidden": 1, "broken_links": 1, "link_loops": 1, "folders": 1,
    }  # fmt: skip
    assert (skipped["query"]["junk"], skipped["bounding_box_test"]["junk"]) == (1, 2)
    assert len(logs) == 3  # once per split, nothing else


def test_a_training_split_of_distractors_only_is_refused(tmp_path: Path) -> None:
    root = market_layout(
        tmp_path / "m",
        {
            "bounding_box_train": ["0000_c1s1_000001_00.jpg", "0000_c2s1_000002_00.jpg"],
            "query": ["0002_c1s1_000001_00.jpg"],
            "bounding_box_test": ["0002_c2s1_000001_00.jpg"],
        },
    )
    with pytest.raises(DatasetError) as error:
        read_market(root)
    assert str(error.value) == (
        f"the training split {root.absolute() / 'bounding_box_train'} holds only distractor images (pid 0: no "
        "identity, kept for the gallery); training needs images named by identity ('0001_c1...', '0002_c1...')"
    )


def test_a_folder_where_no_query_can_be_scored_is_refused(tmp_path: Path) -> None:
    root = market_layout(
        tmp_path / "m",
        {
            "bounding_box_train": ["0001_c1s1_000001_00.jpg"],
            "query": ["0002_c1s1_000001_00.jpg"],
            "bounding_box_test": ["0002_c1s1_000002_00.jpg"],  # the query's identity, its own camera only
        },
    )
    with pytest.raises(DatasetError, match=r"no query of .*query has a gallery image of its identity under another camera"):
        read_market(root)

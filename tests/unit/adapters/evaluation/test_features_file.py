"""Feature files: round trip, and one-line DatasetErrors naming the file and the key."""

from __future__ import annotations

import numpy as np
import pytest

from reidkit.adapters.evaluation.features_file import KEYS, load_feature_file, save_feature_file
from reidkit.domain.errors import DatasetError
from reidkit.domain.types import EmbeddedSet, FeatureMatrix


def arrays(num_q=3, num_g=5, dim=4):
    rng = np.random.default_rng(0)
    return {
        "query_features": rng.standard_normal((num_q, dim)).astype(np.float32),
        "gallery_features": rng.standard_normal((num_g, dim)).astype(np.float32),
        "query_pids": np.arange(num_q),
        "gallery_pids": np.arange(num_g) % num_q,
        "query_camids": np.zeros(num_q, dtype=np.int64),
        "gallery_camids": np.ones(num_g, dtype=np.int32),
    }


def write(path, **overrides):
    data = arrays()
    data.update(overrides)
    np.savez(path, **{k: v for k, v in data.items() if v is not None})
    return path


def test_round_trip(tmp_path):
    data = arrays()
    query = EmbeddedSet(FeatureMatrix(data["query_features"]), data["query_pids"], data["query_camids"])
    gallery = EmbeddedSet(FeatureMatrix(data["gallery_features"]), data["gallery_pids"], data["gallery_camids"])
    path = save_feature_file(tmp_path / "sub" / "feats.bin", query, gallery)
    assert path == tmp_path / "sub" / "feats.bin" and path.is_file()  # the name is kept as given
    assert [p.name for p in path.parent.iterdir()] == ["feats.bin"]  # no temporary left behind
    q, g = load_feature_file(path)
    for loaded, original in ((q, query), (g, gallery)):
        np.testing.assert_array_equal(loaded.features.values, original.features.values)
        np.testing.assert_array_equal(loaded.pids, original.pids)
        np.testing.assert_array_equal(loaded.camids, original.camids)


def test_reads_a_file_written_by_numpy(tmp_path):
    q, g = load_feature_file(write(tmp_path / "f.npz", query_features=np.ones((3, 4), dtype=np.float64)))
    assert q.features.values.dtype == np.float32 and len(q.features) == 3 and len(g.features) == 5


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match=r"nope\.npz: feature file not found"):
        load_feature_file(tmp_path / "nope.npz")


def test_not_an_npz(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"definitely not a zip archive")
    with pytest.raises(DatasetError, match=r"junk\.npz: not a readable \.npz feature file"):
        load_feature_file(path)


@pytest.mark.parametrize("key", KEYS)
def test_missing_key_is_named(tmp_path, key):
    path = write(tmp_path / "f.npz", **{key: None})
    with pytest.raises(DatasetError) as info:
        load_feature_file(path)
    message = str(info.value)
    assert str(path) in message and f"missing key(s) {key} " in message and "\n" not in message


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"gallery_features": np.zeros(5)}, "gallery_features must be a 2-D numeric array"),
        ({"query_features": np.array([["a"] * 4] * 3)}, "query_features must be a 2-D numeric array"),
        ({"gallery_features": np.zeros((5, 7))}, "gallery_features have dimension 7, query_features 4"),
        ({"query_pids": np.arange(4)}, r"query_pids must be \(3,\) integers"),
        ({"gallery_camids": np.zeros(5, dtype=np.float32)}, r"gallery_camids must be \(5,\) integers"),
    ],
)
def test_misshapen_arrays_are_named(tmp_path, override, message):
    path = write(tmp_path / "f.npz", **override)
    with pytest.raises(DatasetError, match=message):
        load_feature_file(path)


def test_pickled_objects_are_refused(tmp_path):
    path = write(tmp_path / "f.npz", query_pids=np.array([1, 2, 3], dtype=object))
    with pytest.raises(DatasetError, match="not a readable"):
        load_feature_file(path)

"""Feature files: round trip, and one-line DatasetErrors naming the file and the key."""

from __future__ import annotations

import io
import zipfile

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
    with pytest.raises(DatasetError, match=r"f\.npz: member query_pids is not a plain array \(Object arrays cannot be loaded"):
        load_feature_file(path)


def test_a_member_that_is_not_npy_data_is_named(tmp_path):
    path = tmp_path / "f.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for key, value in arrays().items():
            member = io.BytesIO()
            np.save(member, value)
            archive.writestr(f"{key}.npy", member.getvalue() if key != "gallery_camids" else b"not an array")
    with pytest.raises(DatasetError, match=r"f\.npz: member gallery_camids is not a numpy array \(it is not in \.npy format\)"):
        load_feature_file(path)


def test_a_single_array_is_not_taken_for_an_archive(tmp_path):
    path = tmp_path / "gallery.npy"
    np.save(path, np.zeros((3, 4), np.float32))
    with pytest.raises(DatasetError, match=r"gallery\.npy: holds a single array \(3, 4\) \(a \.npy file\); evaluate needs a \.npz"):
        load_feature_file(path)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"query_features": np.array([[0, 1, np.nan, 2]] * 3, np.float32)}, "query_features holds 3 non-finite value(s) (NaN or infinity), the first at row 0, column 2 (nan)"),
        ({"gallery_features": np.full((5, 4), -np.inf)}, "gallery_features holds 20 non-finite value(s) (NaN or infinity), the first at row 0, column 0 (-inf)"),
        ({"query_features": np.zeros((0, 4)), "query_pids": np.zeros(0, int), "query_camids": np.zeros(0, int)}, "query_features has no rows (shape (0, 4)); evaluation needs at least one query item"),
        ({"gallery_features": np.zeros((0, 4)), "gallery_pids": np.zeros(0, int), "gallery_camids": np.zeros(0, int)}, "gallery_features has no rows (shape (0, 4)); evaluation needs at least one gallery item"),
        ({"query_features": np.zeros((3, 0)), "gallery_features": np.zeros((5, 0))}, "query_features has dimension 0 (shape (3, 0)); there is nothing to compare"),
        ({"gallery_features": np.full((5, 4), 1e19, np.float32)}, "gallery_features row 0 has norm 2e+19, too large for float32 distances (their squares overflow); scale the features down, e.g. L2-normalise them"),
        ({"gallery_camids": np.zeros(5, int)}, "none of the 3 queries has a gallery item of its identity under another camera (same-camera matches are not counted), so there is nothing to score; check the pids and camids"),
        ({"gallery_pids": np.arange(5) + 10}, "none of the 3 queries has a gallery item of its identity under another camera"),
    ],
    ids=["nan", "inf", "no query", "no gallery", "zero-dimensional", "overflow", "same camera only", "no shared identity"],
)  # fmt: skip
def test_contents_that_cannot_be_scored_are_named(tmp_path, override, message):
    path = write(tmp_path / "f.npz", **override)
    with pytest.raises(DatasetError) as error:
        load_feature_file(path)
    assert str(error.value).startswith(f"{path}: {message}")


def test_norms_just_inside_float32_are_scored(tmp_path):
    q, g = load_feature_file(write(tmp_path / "f.npz", gallery_features=np.full((5, 4), 1e18, np.float32)))
    assert len(g.features) == 5

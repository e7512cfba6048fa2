"""Query and gallery features in one ``.npz`` file, so evaluation can run without a model.

Keys: ``query_features`` / ``gallery_features`` (N, D) float, and ``query_pids``, ``gallery_pids``,
``query_camids``, ``gallery_camids`` (N,) integers.

A file is checked for its contents, not only its shape, before anything is computed from it: at
least one query and one gallery row, a dimension of at least 1, finite values whose distances fit
in float32, and at least one query with a gallery item of its identity under another camera (the
only kind of match the protocol counts). Each problem is one DatasetError naming the file and the
key.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from reidkit.domain.errors import DatasetError
from reidkit.domain.ranking import valid_queries
from reidkit.domain.types import EmbeddedSet, FeatureMatrix

SIDES = ("query", "gallery")
KEYS = tuple(f"{side}_{part}" for side in SIDES for part in ("features", "pids", "camids"))
# Distances are float32 and built from |q|^2 + |g|^2: both squared norms must fit together.
_LARGEST_SQUARED_NORMS = float(np.finfo(np.float32).max) / 4


def load_feature_file(path: str | os.PathLike[str]) -> tuple[EmbeddedSet, EmbeddedSet]:
    """Read (query, gallery) from ``path``; a :class:`DatasetError` names the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: feature file not found")
    arrays = _read_arrays(path)
    sets = []
    dim = None
    for side in SIDES:
        features, pids, camids = (arrays[f"{side}_{part}"] for part in ("features", "pids", "camids"))
        if features.ndim != 2 or features.dtype.kind not in "fiu":
            raise DatasetError(f"{path}: {side}_features must be a 2-D numeric array, got {features.dtype} {features.shape}")
        if features.shape[0] == 0:
            raise DatasetError(f"{path}: {side}_features has no rows (shape {features.shape}); evaluation needs at least one {side} item")
        if features.shape[1] == 0:
            raise DatasetError(f"{path}: {side}_features has dimension 0 (shape {features.shape}); there is nothing to compare")
        if dim is not None and features.shape[1] != dim:
            raise DatasetError(f"{path}: gallery_features have dimension {features.shape[1]}, query_features {dim}")
        dim = features.shape[1]
        for name, labels in ((f"{side}_pids", pids), (f"{side}_camids", camids)):
            if labels.dtype.kind not in "iu" or labels.shape != (features.shape[0],):
                raise DatasetError(
                    f"{path}: {name} must be ({features.shape[0]},) integers to match {side}_features, "
                    f"got {labels.dtype} {labels.shape}"
                )
        _check_values(path, f"{side}_features", features)
        sets.append(EmbeddedSet(FeatureMatrix(features), pids, camids))
    query, gallery = sets
    _check_norms(path, query, gallery)
    if not valid_queries(query.pids, query.camids, gallery.pids, gallery.camids).any():
        raise DatasetError(
            f"{path}: none of the {len(query.pids)} queries has a gallery item of its identity under another "
            "camera (same-camera matches are not counted), so there is nothing to score; check the pids and camids"
        )
    return query, gallery


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        # allow_pickle=False: a feature file is data, never code to run.
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise DatasetError(f"{path}: not a readable .npz feature file ({error})") from error
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        shape = getattr(loaded, "shape", "?")
        raise DatasetError(
            f"{path}: holds a single array {shape} (a .npy file); evaluate needs a .npz archive with "
            f"{', '.join(KEYS)} (numpy.savez)"
        )
    with loaded as npz:
        missing = [key for key in KEYS if key not in npz.files]
        if missing:
            raise DatasetError(f"{path}: missing key(s) {', '.join(missing)} (need {', '.join(KEYS)})")
        arrays = {}
        for key in KEYS:
            try:
                value = npz[key]
            except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
                raise DatasetError(f"{path}: member {key} is not a plain array ({error})") from error
            if not isinstance(value, np.ndarray):
                raise DatasetError(f"{path}: member {key} is not a numpy array (it is not in .npy format)")
            arrays[key] = value
    return arrays


def _check_values(path: Path, key: str, features: np.ndarray) -> None:
    if features.dtype.kind == "f":
        finite = np.isfinite(features)
        if not finite.all():
            bad = np.argwhere(~finite)
            row, column = (int(i) for i in bad[0])
            raise DatasetError(
                f"{path}: {key} holds {len(bad)} non-finite value(s) (NaN or infinity), the first at row {row}, "
                f"column {column} ({features[row, column]})"
            )


def _check_norms(path: Path, query: EmbeddedSet, gallery: EmbeddedSet) -> None:
    norms = []
    for side, embedded in zip(SIDES, (query, gallery), strict=True):
        squared = np.einsum("ij,ij->i", embedded.features.values, embedded.features.values, dtype=np.float64)
        row = int(np.argmax(squared))
        norms.append((float(squared[row]), side, row))
    if norms[0][0] + norms[1][0] > _LARGEST_SQUARED_NORMS:
        squared, side, row = max(norms)
        raise DatasetError(
            f"{path}: {side}_features row {row} has norm {squared ** 0.5:.3g}, too large for float32 distances "
            "(their squares overflow); scale the features down, e.g. L2-normalise them"
        )


def save_feature_file(path: str | os.PathLike[str], query: EmbeddedSet, gallery: EmbeddedSet) -> Path:
    """Write (query, gallery) to ``path`` exactly (no ``.npz`` appended); returns the path.

    Written to a temporary file and renamed, so a crash never leaves a half-written file behind.
    """
    path = Path(path)
    arrays = {}
    for side, embedded in zip(SIDES, (query, gallery), strict=True):
        arrays[f"{side}_features"] = embedded.features.values
        arrays[f"{side}_pids"] = embedded.pids
        arrays[f"{side}_camids"] = embedded.camids
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

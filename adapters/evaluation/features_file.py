"""Query and gallery features in one ``.npz`` file, so evaluation can run without a model.

Keys: ``query_features`` / ``gallery_features`` (N, D) float, and ``query_pids``, ``gallery_pids``,
``query_camids``, ``gallery_camids`` (N,) integers.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from reidkit.domain.errors import DatasetError
from reidkit.domain.types import EmbeddedSet, FeatureMatrix

SIDES = ("query", "gallery")
KEYS = tuple(f"{side}_{part}" for side in SIDES for part in ("features", "pids", "camids"))


def load_feature_file(path: str | os.PathLike[str]) -> tuple[EmbeddedSet, EmbeddedSet]:
    """Read (query, gallery) from ``path``; a :class:`DatasetError` names the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: feature file not found")
    try:
        # allow_pickle=False: a feature file is data, never code to run.
        with np.load(path, allow_pickle=False) as npz:
            missing = [key for key in KEYS if key not in npz.files]
            if missing:
                raise DatasetError(f"{path}: missing key(s) {', '.join(missing)} (need {', '.join(KEYS)})")
            arrays = {key: npz[key] for key in KEYS}
    except DatasetError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise DatasetError(f"{path}: not a readable .npz feature file ({error})") from error

    sets = []
    dim = None
    for side in SIDES:
        features, pids, camids = (arrays[f"{side}_{part}"] for part in ("features", "pids", "camids"))
        if features.ndim != 2 or features.dtype.kind not in "fiu":
            raise DatasetError(f"{path}: {side}_features must be a 2-D numeric array, got {features.dtype} {features.shape}")
        if dim is not None and features.shape[1] != dim:
            raise DatasetError(f"{path}: gallery_features have dimension {features.shape[1]}, query_features {dim}")
        dim = features.shape[1]
        for name, labels in ((f"{side}_pids", pids), (f"{side}_camids", camids)):
            if labels.dtype.kind not in "iu" or labels.shape != (features.shape[0],):
                raise DatasetError(
                    f"{path}: {name} must be ({features.shape[0]},) integers to match {side}_features, "
                    f"got {labels.dtype} {labels.shape}"
                )
        sets.append(EmbeddedSet(FeatureMatrix(features), pids, camids))
    return sets[0], sets[1]


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

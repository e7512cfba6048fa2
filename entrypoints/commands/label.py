"""``reidkit label``: cluster saved features into pseudo labels with the profile's labeler and refiners.

A user can label a new unlabelled camera dump, or compare clustering backends, without training.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np

from reidkit.domain.errors import DatasetError
from reidkit.entrypoints.commands.common import add_profile_arguments, profile_from, write_atomically, writable_output


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("label", help="cluster saved features (N, D) into pseudo labels")
    parser.add_argument("--features", required=True, type=Path, help="float32 .npy of shape (N, D)")
    add_profile_arguments(parser, default=None)
    parser.add_argument("--out", required=True, type=Path, help="labels .npy (int64, -1 = outlier)")
    parser.add_argument("--json", type=Path, help="summary: num_clusters, num_outliers, seconds, peak_rss_mb")
    parser.set_defaults(handler=run)


def load_features(path: Path) -> np.ndarray:
    try:
        features = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"cannot read features from {path}: {exc}") from None
    if isinstance(features, np.lib.npyio.NpzFile):
        names = ", ".join(features.files)
        features.close()
        raise DatasetError(
            f"{path} is an .npz archive ({names}); label needs one float (N, D) array in a .npy file "
            "(numpy.save), e.g. the gallery_features of an evaluate file"
        )
    if features.ndim != 2 or not np.issubdtype(features.dtype, np.floating):
        raise DatasetError(f"{path} must hold a float (N, D) array, got {features.dtype} {features.shape}")
    if features.shape[0] == 0 or features.shape[1] == 0:
        raise DatasetError(f"{path} holds no features to cluster (shape {features.shape}); it needs N >= 1 rows of D >= 1")
    if not np.isfinite(features).all():
        raise DatasetError(f"{path} holds NaN or infinite values")
    return features.astype(np.float32, copy=False)


def run(args: argparse.Namespace) -> int:
    from reidkit.adapters.runtime.logging import configure_logging
    from reidkit.domain.types import FeatureMatrix
    from reidkit.entrypoints.clustering import Clustering
    from reidkit.entrypoints.settings import unstructure_profile

    configure_logging(console_level="warning" if args.quiet else None)
    profile = profile_from(args)
    # Where the results go is checked before the clustering, which may take minutes.
    writable_output(args.out, "--out")
    if args.json:
        writable_output(args.json, "--json")
    features = FeatureMatrix(load_features(args.features))
    container = Clustering()
    container.config.from_dict(unstructure_profile(profile))
    labeler, refiners = container.labeler(), container.refiners()
    started = time.perf_counter()
    labels = labeler.assign(features)
    for refiner in refiners:
        labels = refiner.refine(features, labels)
    seconds = time.perf_counter() - started
    write_atomically(args.out, lambda handle: np.save(handle, np.asarray(labels.labels, dtype=np.int64)))
    summary = {
        "num_clusters": labels.num_clusters,
        "num_outliers": labels.num_outliers,
        "seconds": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(
        f"{len(features)} features -> {summary['num_clusters']} clusters, {summary['num_outliers']} outliers "
        f"({' + '.join(type(step).__name__ for step in (labeler, *refiners))}, {seconds:.2f} s); "
        f"labels written to {args.out}"
    )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0

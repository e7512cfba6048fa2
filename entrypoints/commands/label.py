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
from reidkit.entrypoints.commands.common import add_profile_arguments, profile_from


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
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read features from {path}: {exc}") from None
    if features.ndim != 2 or not np.issubdtype(features.dtype, np.floating):
        raise DatasetError(f"{path} must hold a float (N, D) array, got {features.dtype} {features.shape}")
    if not np.isfinite(features).all():
        raise DatasetError(f"{path} holds NaN or infinite values")
    return features.astype(np.float32, copy=False)


def run(args: argparse.Namespace) -> int:
    from reidkit.adapters.runtime.logging import configure_logging
    from reidkit.domain.types import FeatureMatrix
    from reidkit.entrypoints.clustering import Clustering
    from reidkit.entrypoints.settings import unstructure_profile

    configure_logging()
    profile = profile_from(args)
    features = FeatureMatrix(load_features(args.features))
    container = Clustering()
    container.config.from_dict(unstructure_profile(profile))
    labeler, refiners = container.labeler(), container.refiners()
    started = time.perf_counter()
    labels = labeler.assign(features)
    for refiner in refiners:
        labels = refiner.refine(features, labels)
    seconds = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, np.asarray(labels.labels, dtype=np.int64))
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

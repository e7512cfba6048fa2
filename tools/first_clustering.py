"""The first clustering of an adaptation profile, for the diagnostics that study it
(``correction_sweep.py``, ``memory_update_purity.py``): the features of its starting model on its
unlabelled training split, the profile's labeler's labels, and the true identities the method
never sees, with the run's adaptation container still open for the caller's other parts."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from attrs import frozen

from reidkit.domain.types import FeatureMatrix, PseudoLabels
from reidkit.entrypoints.app import build_app


@frozen
class FirstClustering:
    adaptation: Any  # the run's Adaptation container
    features: FeatureMatrix
    labels: PseudoLabels
    truth: np.ndarray


@contextmanager
def first_clustering(name: str, profile: Any) -> Iterator[FirstClustering]:
    with tempfile.TemporaryDirectory() as work, build_app(profile, work_dir=work) as app:
        adaptation = getattr(app.container, "adaptation", None)
        if adaptation is None:
            raise SystemExit(f"profile {name!r} clusters nothing: it has no adaptation part")
        features = app.container.use_case().features.collect()
        labels = adaptation.labeler().assign(features)
        yield FirstClustering(adaptation, features, labels, np.asarray(app.container.data.train_set().train_pids))

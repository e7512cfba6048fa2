"""Is it the pipeline or the pseudo labels? Runs an adaptation profile with the target's *true*
identities in place of its labeler (swapped through the container), so every other strategy is
the profile's own. If this run improves on the starting model while the real one does not, the
method is limited by pseudo-label quality, not by a wiring bug.

    .venv/bin/python benchmarks/oracle_pseudo_labels.py --profile strong_baseline_uda \
        --set "adapt.source_model='runs/results/seed0/direct_transfer/checkpoints/best.pt'" --set train.epochs=4
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from dependency_injector import providers

from reidkit.domain.types import FeatureMatrix, PseudoLabels
from reidkit.entrypoints.containers import build_app
from reidkit.entrypoints.settings import load_profile


class TrueIdentities:
    """A PseudoLabeler that returns the true identities (contiguous ids, no outliers)."""

    def __init__(self, true_ids: list[int]) -> None:
        _, self.labels = np.unique(np.asarray(true_ids), return_inverse=True)

    def assign(self, features: FeatureMatrix) -> PseudoLabels:
        return PseudoLabels(self.labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--work-dir", default="runs/oracle_pseudo_labels")
    args = parser.parse_args()
    profile = load_profile(args.profile, args.overrides)
    with build_app(profile, work_dir=args.work_dir) as app:
        labeler = TrueIdentities([r.pid for r in app.method.train_set().train])
        with app.core.pseudo_labeler.override(providers.Object(labeler)):
            app.method.use_case().run()
    evaluations = json.loads((Path(args.work_dir) / "metrics.json").read_text())["evaluations"]
    for entry in evaluations:
        print(f"epoch {entry['epoch']} {entry['domain']}: mAP {100 * entry['mAP']:.2f}  R1 {100 * entry['cmc'][0]:.2f}")


if __name__ == "__main__":
    main()

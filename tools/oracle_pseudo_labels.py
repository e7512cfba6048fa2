r"""Is it the pipeline or the pseudo labels? Runs an adaptation profile with the target's *true*
identities in place of its labeler and its refiners (both swapped through the container:
``adaptation.labeler`` and ``adaptation.refiners``), so every other strategy is the profile's own.
If this run improves on the starting model while the real one does not, the method is limited by
pseudo-label quality, not by a wiring bug.

    .venv/bin/python tools/oracle_pseudo_labels.py --profile strong_baseline_uda \
        --set "adapt.source_model='runs/results/seed0/direct_transfer/checkpoints/best.pt'" --set train.epochs=4
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from dependency_injector import providers

from reidkit.domain.types import FeatureMatrix, PseudoLabels
from reidkit.entrypoints.app import App, build_app
from reidkit.entrypoints.settings import load_profile


class TrueIdentities:
    """A PseudoLabeler that returns the true identities (contiguous ids, no outliers)."""

    def __init__(self, true_ids: tuple[int, ...]) -> None:
        _, self.labels = np.unique(np.asarray(true_ids), return_inverse=True)

    def assign(self, features: FeatureMatrix) -> PseudoLabels:
        return PseudoLabels(self.labels)


def true_identities(app: App) -> None:
    """The App hook: the target's identities as the labels, and no refiner to edit them (a
    self-paced criterion would re-cluster them)."""
    adaptation = app.container.adaptation
    adaptation.labeler.override(providers.Singleton(TrueIdentities, app.container.data.train_set.provided.train_pids))
    adaptation.refiners.override(providers.Object([]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", required=True)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--work-dir", default="runs/oracle_pseudo_labels")
    args = parser.parse_args()
    profile = load_profile(args.profile, args.overrides)
    if profile.method == "supervised":
        raise SystemExit(f"profile {args.profile!r} is supervised: it has no pseudo labels to replace")
    with build_app(profile, work_dir=args.work_dir, hook=true_identities) as app:
        app.run()
    evaluations = json.loads((app.run_dir / "metrics.json").read_text())["evaluations"]
    for entry in evaluations:
        print(f"epoch {entry['epoch']} {entry['domain']}: mAP {100 * entry['mAP']:.2f}  R1 {100 * entry['cmc'][0]:.2f}")


if __name__ == "__main__":
    main()

"""Label quality of a DBSCAN sweep at a run's start: the features an adaptation profile clusters
first (its starting model on its unlabelled training split), clustered at every (k1, eps) given,
each scored against the true identities the method never sees (pairwise precision, recall, ARI,
clusters, outliers). A radius is chosen by this at the start of a run, never by the test split.

    .venv/bin/python tools/label_sweep.py --profile cluster_contrast_usl \\
        --set "model.pretrained='runs/results/generic_backbone/backbone.pt'" \\
        --k1 10 15 20 30 --eps 0.35 0.4 0.45 0.5 0.55 0.6

Prints a markdown table, one row per setting.
"""

from __future__ import annotations

import argparse
import tempfile

from reidkit.adapters.clustering.dbscan import DbscanLabeler
from reidkit.adapters.clustering.knn import ExactKnn
from reidkit.adapters.clustering.quality import TrueIdentityScorer
from reidkit.entrypoints.app import build_app
from reidkit.entrypoints.settings import load_profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--k1", type=int, nargs="+", default=[15])
    parser.add_argument("--k2", type=int, default=3)
    parser.add_argument("--eps", type=float, nargs="+", default=[0.45])
    parser.add_argument("--min-samples", type=int, default=4)
    args = parser.parse_args()
    profile = load_profile(args.profile, args.overrides)
    if profile.method == "supervised":
        raise SystemExit(f"profile {args.profile!r} is supervised: it clusters nothing")
    with tempfile.TemporaryDirectory() as work, build_app(profile, work_dir=work) as app:
        features = app.container.use_case().features.collect()
        scorer = TrueIdentityScorer(app.container.data.train_set().train_pids)
    print(f"{len(features)} samples, {features.dim}-d features of {args.profile}'s start")
    print("| k1 | eps | clusters | outliers | precision | recall | ARI |")
    print("|---|---|---|---|---|---|---|")
    for k1 in args.k1:
        for eps in args.eps:
            labeler = DbscanLabeler(k1=k1, k2=args.k2, eps=eps, min_samples=args.min_samples, knn=ExactKnn())
            labels = labeler.assign(features)
            q = scorer.score(labels)
            print(
                f"| {k1} | {eps} | {labels.num_clusters} | {labels.num_outliers} | {q['precision']:.3f} | "
                f"{q['recall']:.3f} | {q['ari']:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

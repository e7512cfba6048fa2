"""How much of an adaptation run's start is its BatchNorm statistics: the starting model's target
mAP and first pseudo labels as loaded, then after forward passes without gradients over the
unlabelled training images (train transform, batches of 64, train mode), once for the BN neck's
statistics only and once for every BN layer's (AdaBN). On the embedded data the USL start is the
generic backbone's trunk with a fresh neck (mean 0, variance 1), so the first of these is the
features a USL profile clusters first (issue 24).

    .venv/bin/python tools/start_statistics.py --profile cluster_contrast_usl \\
        --set data.preset=demo_dense --set "model.pretrained='runs/results/generic_backbone/backbone.pt'"

Prints a markdown table, one row per state; the labels are DBSCAN at --k1/--eps, scored against
the true identities the method never sees.
"""

from __future__ import annotations

import argparse
import copy
import tempfile

import torch
from torch.utils.data import DataLoader

from reidkit.adapters.clustering.dbscan import DbscanLabeler
from reidkit.adapters.clustering.knn import ExactKnn
from reidkit.adapters.clustering.quality import TrueIdentityScorer
from reidkit.adapters.data.datasets import ImageDataset
from reidkit.application.evaluate import evaluations
from reidkit.entrypoints.app import build_app
from reidkit.entrypoints.settings import load_profile


def recalibrate(model: torch.nn.Module, layers: list[torch.nn.Module], loader: DataLoader, passes: int) -> None:
    """Train-mode forward passes that update only ``layers``' running statistics."""
    model.eval()
    for layer in layers:
        layer.train()
    done = 0
    with torch.no_grad():
        while done < passes:
            for batch in loader:
                model(batch["image"])
                done += 1
                if done >= passes:
                    break
    model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--passes", type=int, default=100, help="batches of 64 (an adaptation epoch is 100)")
    parser.add_argument("--k1", type=int, default=15)
    parser.add_argument("--eps", type=float, default=0.45)
    args = parser.parse_args()
    profile = load_profile(args.profile, [*args.overrides, "runtime.quiet=true"])
    if profile.method == "supervised":
        raise SystemExit(f"profile {args.profile!r} is supervised: it clusters nothing")
    torch.manual_seed(profile.seed)
    with tempfile.TemporaryDirectory() as work, build_app(profile, work_dir=work) as app:
        c = app.container
        model, train = c.network.model(), c.data.train_set()
        scorer = TrueIdentityScorer(train.train_pids)
        target = profile.eval.domains[0]
        scored = evaluations(c.network.encoder(), c.data.evaluator(), c.data.domains(), [target])[target]
        features = c.use_case().features
        loader = DataLoader(ImageDataset(train.train, c.data.train_transform()), batch_size=64, shuffle=True, drop_last=True)
        start = copy.deepcopy(model.state_dict())
        batchnorms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        print(f"| {args.profile}'s start | {target} mAP | ARI (k1 {args.k1}, eps {args.eps}) | clusters | outliers |")
        print("|---|---|---|---|---|")
        for name, layers in (("as loaded", []), ("the neck's statistics", [model.neck]), ("every BN's statistics", batchnorms)):
            model.load_state_dict(start)
            recalibrate(model, layers, loader, args.passes if layers else 0)
            labels = DbscanLabeler(k1=args.k1, k2=3, eps=args.eps, min_samples=4, knn=ExactKnn()).assign(features.collect())
            quality = scorer.score(labels)
            print(
                f"| {name} | {100 * scored.run().mAP:.1f} | {quality['ari']:.3f} | {labels.num_clusters} | "
                f"{labels.num_outliers} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""What GLC's correction network learns at a run's start, and which thresholds it would need: the
features an adaptation profile clusters first (its starting model on its unlabelled training
split), labelled by the profile's labeler, one correction network trained on them exactly as the
profile's ``[correct]`` table trains it, then scored against the true identities the method never
sees. A diagnostic for the GLC findings in docs/adaptation.md, not a way to choose settings: the
run never reads the identities.

    .venv/bin/python tools/correction_sweep.py --profile glc_cluster_contrast_usl \\
        --set data.preset=demo_dense --set "model.pretrained='runs/results/generic_backbone/backbone.pt'" \\
        --link 0.3 0.5 0.6 0.7 0.8 0.9 --shared 0.0 0.3 0.6

Prints, over the kNN pairs the network scores (i != j among each sample's k neighbours), how well
its link probability, the raw cosine similarity and the input pseudo labels tell pairs of one
identity from the rest (AUC; pseudo labels: precision and recall of "same cluster" as a link), then
the rebuilt labels' quality at every (link, shared) threshold pair.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from scipy.stats import rankdata

from reidkit.adapters.clustering.gcn_links import GcnLinkRefiner, adjacency, clusters_from_links, knn_graph, to_torch
from reidkit.adapters.clustering.quality import TrueIdentityScorer
from reidkit.domain.types import PseudoLabels
from reidkit.entrypoints.settings import load_profile

from first_clustering import first_clustering


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Mann-Whitney AUC of ``scores`` for ``positive`` pairs (ties count half)."""
    ranks = rankdata(scores)
    n_pos = int(positive.sum())
    n_neg = len(scores) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@torch.no_grad()
def pair_probabilities(refiner: GcnLinkRefiner, x: np.ndarray, gcn, head) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every kNN pair (i != j) the refiner's inference scores: (pairs (E, 2), P(link), cosine)."""
    gcn.eval()
    head.eval()
    indices, similarities = knn_graph(x, refiner.k, refiner.knn)
    h = gcn(torch.tensor(x, device=refiner.device), to_torch(adjacency(indices, similarities), refiner.device))
    rows = np.repeat(np.arange(len(x)), indices.shape[1])
    cols = indices.ravel()
    chosen = np.flatnonzero((cols >= 0) & (cols != rows))
    first = torch.from_numpy(rows[chosen]).to(refiner.device)
    second = torch.from_numpy(cols[chosen]).to(refiner.device)
    link = torch.softmax(head.pairs(head.project(h), first, second), dim=1)[:, 1].cpu().numpy()
    return np.stack([rows[chosen], cols[chosen]], axis=1), link, similarities.ravel()[chosen]


def row(name: str, labels: np.ndarray, scorer: TrueIdentityScorer) -> str:
    pseudo = PseudoLabels(labels)
    q = scorer.score(pseudo)
    return (
        f"| {name} | {pseudo.num_clusters} | {pseudo.num_outliers} | {q['precision']:.3f} | "
        f"{q['recall']:.3f} | {q['ari']:.3f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--epoch", type=int, default=2, help="0-based epoch whose correction draws are used")
    parser.add_argument("--link", type=float, nargs="+", default=[0.6])
    parser.add_argument("--shared", type=float, nargs="+", default=[0.6])
    args = parser.parse_args()
    profile = load_profile(args.profile, args.overrides)
    with first_clustering(args.profile, profile) as start:
        refiner = start.adaptation.glc().at_epoch(args.epoch)
    features, labels, truth = start.features, start.labels, start.truth
    scorer = TrueIdentityScorer(truth)
    x = features.normalized().values
    values = labels.labels
    clustered = np.flatnonzero(values >= 0)
    print(f"{len(x)} samples, {features.dim}-d features of {args.profile}'s start; correction network: "
          f"k {refiner.k}, hidden {refiner.hidden}, {refiner.optimizer} at {refiner.lr}", flush=True)
    gcn, head, trained = refiner.train(x[clustered], values[clustered])
    pairs, link, cosine = pair_probabilities(refiner, x, gcn, head)
    same_identity = truth[pairs[:, 0]] == truth[pairs[:, 1]]
    same_cluster = (values[pairs[:, 0]] == values[pairs[:, 1]]) & (values[pairs[:, 0]] >= 0)
    print(f"\n{trained} sub-graphs trained; {len(pairs)} kNN pairs, {same_identity.mean():.3f} of one identity\n")
    print("| on the kNN pairs | AUC for one identity | precision of a link | recall of a link |")
    print("|---|---|---|---|")
    print(f"| cosine similarity | {auc(cosine, same_identity):.3f} | – | – |")
    print(f"| link probability | {auc(link, same_identity):.3f} | – | – |")
    print(f"| link probability, pairs inside the pseudo labels | {auc(link, same_cluster):.3f} (for same cluster) | – | – |")
    print(
        f"| same pseudo cluster | – | {same_identity[same_cluster].mean():.3f} | "
        f"{same_cluster[same_identity].mean():.3f} |"
    )
    for threshold in args.link:
        kept = link > threshold
        print(f"| P(link) > {threshold} | – | {same_identity[kept].mean() if kept.any() else float('nan'):.3f} | "
              f"{kept[same_identity].mean():.3f} |")
    print("\n| labels | clusters | outliers | precision | recall | ARI |")
    print("|---|---|---|---|---|---|")
    print(row("input (the profile's labeler)", values, scorer))
    for threshold in args.link:
        for shared in args.shared:
            rebuilt = clusters_from_links(pairs[link > threshold], len(x), shared, refiner.min_cluster_size)
            print(row(f"link > {threshold}, shared > {shared}", rebuilt, scorer), flush=True)


if __name__ == "__main__":
    main()

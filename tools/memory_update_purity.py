"""Whom Cluster Contrast's memory update follows: at a run's first clustering (the profile's
starting model on its unlabelled training split, labelled by the profile's labeler), batches drawn
as the sampler draws them (``train.instances_per_id`` images of a cluster), and each cluster's
memory row (its centroid, as at each epoch's start) updated once by each rule at the profile's
``cluster_contrast.momentum``: ``hard`` moves it toward the batch member least like it,
``mean`` (upstream's sequential loop) toward each member in turn, so that at momentum 0.1 the last
one weighs 0.9. Scored against the true identities the method never sees.

    .venv/bin/python tools/memory_update_purity.py --profile cluster_contrast_usl \\
        --set data.preset=demo_dense --set "model.pretrained='runs/results/generic_backbone/backbone.pt'"

Prints, for each rule over every cluster's draws: how often the member with the most weight in the
update is not of the cluster's majority identity (an impostor), and how often the updated row's
nearest identity centroid is another identity's than the majority's (before the update: the
centroid's own).
"""

from __future__ import annotations

import argparse

import numpy as np

from reidkit.entrypoints.settings import load_profile

from first_clustering import first_clustering


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=-1, keepdims=True), 1e-12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--draws", type=int, default=20, help="batches drawn per cluster")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    profile = load_profile(args.profile, args.overrides)
    with first_clustering(args.profile, profile) as start:
        features, labels, truth = start.features, start.labels.labels, start.truth
    instances = profile.train.instances_per_id
    momentum = float(profile.method_options.get("momentum", 0.2))  # ClusterMemory's default when the table has none
    x = features.normalized().values
    identities = np.unique(truth)
    identity_centroids = unit(np.stack([x[truth == i].mean(axis=0) for i in identities]))
    rng = np.random.default_rng(args.seed)
    impostor: dict[str, list[bool]] = {"hard": [], "mean": []}
    elsewhere: dict[str, list[bool]] = {"centroid": [], "hard": [], "mean": []}
    purity = []
    for c in range(labels.max() + 1):
        members = np.flatnonzero(labels == c)
        ids, sizes = np.unique(truth[members], return_counts=True)
        majority = ids[sizes.argmax()]
        purity.append(sizes.max() / len(members))
        row = unit(x[members].mean(axis=0))
        elsewhere["centroid"].append(bool(identities[np.argmax(identity_centroids @ row)] != majority))
        for _ in range(args.draws):
            batch = rng.choice(members, instances, replace=len(members) < instances)
            hardest = batch[np.argmin(x[batch] @ row)]
            sequential = row
            for member in batch:
                sequential = unit(momentum * sequential + (1 - momentum) * x[member])
            updated = {"hard": unit(momentum * row + (1 - momentum) * x[hardest]), "mean": sequential}
            impostor["hard"].append(bool(truth[hardest] != majority))
            impostor["mean"].append(bool(truth[batch[-1]] != majority))
            for rule, new_row in updated.items():
                elsewhere[rule].append(bool(identities[np.argmax(identity_centroids @ new_row)] != majority))
    print(f"{len(x)} samples, {labels.max() + 1} clusters ({(labels < 0).sum()} outliers), mean majority "
          f"share {np.mean(purity):.3f}; {args.draws} batches of {instances} per cluster, momentum {momentum}\n")
    print("| memory row | its heaviest member is an impostor | its nearest identity centroid is another's |")
    print("|---|---|---|")
    print(f"| centroid (before the update) | – | {np.mean(elsewhere['centroid']):.3f} |")
    for rule in ("hard", "mean"):
        print(f"| after one `{rule}` update | {np.mean(impostor[rule]):.3f} | {np.mean(elsewhere[rule]):.3f} |")

if __name__ == "__main__":
    main()

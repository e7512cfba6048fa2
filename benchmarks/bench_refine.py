"""Benchmark: one GLC correction (``GcnLinkRefiner``) against the labeler alone, in the same run.

Input: ``bench_label.blobs`` (unit-norm Gaussian centres plus noise, rows L2-normalised): by default
N=12,936, d=2048, 751 centres (Market-1501's training set), noise 2.0. DBSCAN (k-reciprocal
Jaccard k1=30, k2=6, eps 0.6, min_samples 4) makes the labels; the correction network then trains
on them and rebuilds the clusters (GLC's published network: kNN 50, 512 wide, SGD 0.1).

The published training budget is 2 epochs x 203 sub-graphs x 80 steps; ``--subgraphs`` (2 per epoch
by default) trains a part of it, and the script prints the time per sub-graph and what the full
budget would take at that rate. ``--approximate`` builds every kNN graph with the IVF index (the
large-N setting); ``--n 200000 --dim 256 --centres 5000 --noise 1.0 --approximate`` is the scale
check (target: completes within 8 GB peak RSS).

Prints ``key=value`` lines: the labeler's time, the correction's training and inference times,
their ratio to the labeler, the peak RSS after each phase (the process peak, so it only grows), and
the label quality (ARI against the centres) before and after.

Run: ``.venv/bin/python benchmarks/bench_refine.py [--n N --dim D --centres C --noise S --subgraphs G --approximate]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_label import blobs, peak_rss_gb  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=12_936)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--centres", type=int, default=751)
    parser.add_argument("--noise", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--subgraphs", type=int, default=2, help="sub-graphs per epoch (published: 203)")
    parser.add_argument("--approximate", action="store_true", help="IVF kNN for the labeler and the graphs")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()

    import torch
    from sklearn.metrics import adjusted_rand_score

    from reidkit.adapters.clustering.dbscan import DbscanLabeler
    from reidkit.adapters.clustering.gcn_links import REFERENCE_SUBGRAPHS, GcnLinkRefiner, clusters_from_links, subgraphs_for
    from reidkit.adapters.clustering.knn import ExactKnn, IvfKnn
    from reidkit.domain.types import FeatureMatrix

    if args.threads:
        torch.set_num_threads(args.threads)
    x, truth = blobs(args.n, args.dim, args.centres, args.noise, args.seed)
    features = FeatureMatrix(x)
    knn = IvfKnn() if args.approximate else ExactKnn()
    print(f"n={args.n} dim={args.dim} centres={args.centres} noise={args.noise} knn={type(knn).__name__} threads={torch.get_num_threads()}")

    start = time.perf_counter()
    labels = DbscanLabeler(k1=30, k2=6, eps=0.6, min_samples=4, knn=knn).assign(features)
    labeler_s = time.perf_counter() - start
    print(f"labeler_s={labeler_s:.2f}")
    print(f"labels_clusters={labels.num_clusters} labels_outliers={labels.num_outliers} labels_ari={adjusted_rand_score(truth, labels.labels):.4f}")
    print(f"peak_rss_gb_after_labeler={peak_rss_gb():.3f}")

    refiner = GcnLinkRefiner(knn=knn, subgraphs_per_epoch=args.subgraphs, seed=args.seed)
    clustered = labels.labels >= 0
    normalised = features.normalized().values
    start = time.perf_counter()
    gcn, head, trained = refiner.train(normalised[clustered], labels.labels[clustered])
    train_s = time.perf_counter() - start
    print(f"train_s={train_s:.2f} subgraphs_trained={trained} steps={trained * refiner.passes * refiner.edge_chunks}")
    print(f"peak_rss_gb_after_training={peak_rss_gb():.3f}")
    start = time.perf_counter()
    links = refiner.predict_links(normalised, gcn, head)
    corrected = clusters_from_links(links, len(x), refiner.shared_threshold, refiner.min_cluster_size)
    inference_s = time.perf_counter() - start
    print(f"inference_s={inference_s:.2f} links_kept={len(links)}")
    print(f"corrected_clusters={corrected.max() + 1} corrected_outliers={int((corrected < 0).sum())} corrected_ari={adjusted_rand_score(truth, corrected):.4f}")
    print(f"peak_rss_gb={peak_rss_gb():.3f}")

    per_subgraph = train_s / max(trained, 1)
    published = refiner.epochs * REFERENCE_SUBGRAPHS
    scaled = refiner.epochs * subgraphs_for(int(clustered.sum()))
    print(f"seconds_per_subgraph={per_subgraph:.2f}")
    print(f"published_budget_s={published * per_subgraph:.0f} ({published} sub-graphs) scaled_budget_s={scaled * per_subgraph:.0f} ({scaled})")
    print(f"ratio_correction_to_labeler={(train_s + inference_s) / labeler_s:.2f} (this run's {trained} sub-graphs)")


if __name__ == "__main__":
    main()

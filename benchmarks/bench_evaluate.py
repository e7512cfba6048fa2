"""Time RankingEvaluator on Market-1501-test-sized features against a floor measured in the same run.

    .venv/bin/python benchmarks/bench_evaluate.py [--repeat N] [--metric euclidean]
        [--queries 3368 --gallery 15913] [--max-block-mb 1024]

Features: 3,368 query × 15,913 gallery by default (MSMT17's test split: ``--queries 11659
--gallery 82161``), d=2048, 750 identities, 6 cameras; each feature is its identity's centre plus
noise (seeded), tuned so the numbers look like a trained model's (mAP ~0.7). That matters: how
much of each row the metric code must examine depends on where the matches rank.

The floor is what any exact evaluator must at least do: one float32 matmul ``q @ g.T`` plus one
row-wise argsort of the resulting matrix (the faster of numpy's and torch's), over blocks of
query rows of at most the evaluator's block budget when the whole matrix exceeds it (at the
default size it is one block). ``ratio`` is total / floor; the target is <= 1.5. Peak RSS is
taken before the floor runs (its int64 argsort would dominate it).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from reidkit.adapters.evaluation.distances import DEFAULT_CHUNK_ROWS, DEFAULT_MAX_BLOCK_BYTES, block_rows
from reidkit.adapters.evaluation.evaluator import RankingEvaluator
from reidkit.domain.types import EmbeddedSet, FeatureMatrix

NUM_QUERY, NUM_GALLERY, DIM = 3368, 15913, 2048
NUM_IDS, NUM_CAMS = 750, 6
NOISE = 3.0  # per-dimension noise vs unit-variance centres: mAP ~0.73, rank-1 ~0.99


def market_sized_sets(
    seed: int = 0, num_query: int = NUM_QUERY, num_gallery: int = NUM_GALLERY
) -> tuple[EmbeddedSet, EmbeddedSet]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((NUM_IDS, DIM), dtype=np.float32)

    def embedded(n: int) -> EmbeddedSet:
        pids = rng.integers(0, NUM_IDS, n)
        cams = rng.integers(0, NUM_CAMS, n)
        features = centres[pids]
        # Noise drawn 1,024 rows at a time (the same numbers as one draw): the generator's
        # temporaries must not set the peak RSS this benchmark reports.
        for s in range(0, n, 1024):
            features[s : s + 1024] += NOISE * rng.standard_normal((min(1024, n - s), DIM), dtype=np.float32)
        return EmbeddedSet(FeatureMatrix(features), pids, cams)

    return embedded(num_query), embedded(num_gallery)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def floor_seconds(query: np.ndarray, gallery: np.ndarray, block_rows: int) -> tuple[float, float, float]:
    """(matmul_s, argsort_s, floor_s) of q @ g.T and a row-wise argsort of its result, summed
    over blocks of ``block_rows`` query rows (one block when all rows fit)."""
    g = torch.from_numpy(gallery)
    matmul_s = torch_sort_s = numpy_sort_s = 0.0
    for r0 in range(0, len(query), block_rows):
        q = torch.from_numpy(query[r0 : r0 + block_rows])
        t0 = time.perf_counter()
        dist = q @ g.T
        matmul_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        torch.argsort(dist, dim=1)
        torch_sort_s += time.perf_counter() - t0
        values = dist.numpy()
        t0 = time.perf_counter()
        np.argsort(values, axis=1)
        numpy_sort_s += time.perf_counter() - t0
        del dist, values
    argsort_s = min(torch_sort_s, numpy_sort_s)
    return matmul_s, argsort_s, matmul_s + argsort_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each timing; the best is kept")
    parser.add_argument("--metric", default="euclidean", choices=("euclidean", "sqeuclidean", "cosine"))
    parser.add_argument("--queries", type=int, default=NUM_QUERY)
    parser.add_argument("--gallery", type=int, default=NUM_GALLERY)
    parser.add_argument("--max-block-mb", type=int, default=DEFAULT_MAX_BLOCK_BYTES >> 20, help="evaluator's block budget")
    args = parser.parse_args()

    query, gallery = market_sized_sets(num_query=args.queries, num_gallery=args.gallery)
    data_rss = peak_rss_mb()  # torch's libraries and the features, before any evaluation
    max_block_bytes = args.max_block_mb << 20
    evaluator = RankingEvaluator(metric=args.metric, max_block_bytes=max_block_bytes)
    # Warm the BLAS and thread pools on a small problem so neither side pays start-up costs.
    warm = np.array(query.features.values[:256])
    torch.from_numpy(warm) @ torch.from_numpy(warm).T

    best = None
    for _ in range(args.repeat):
        metrics, timing = evaluator.timed_evaluate(query, gallery)
        if best is None or timing.total_s < best.total_s:
            best = timing
    evaluator_rss = peak_rss_mb()  # before the floor's (Q, G) int64 argsort inflates it
    assert best is not None

    # Writable copies: torch warns about sharing the read-only FeatureMatrix arrays.
    q_values, g_values = np.array(query.features.values), np.array(gallery.features.values)
    floor_rows = block_rows(args.queries, args.gallery * 4, max_block_bytes, multiple=DEFAULT_CHUNK_ROWS)
    floors = [floor_seconds(q_values, g_values, floor_rows) for _ in range(args.repeat)]
    # Best of each part separately: the tightest floor these runs support.
    matmul_s = min(f[0] for f in floors)
    argsort_s = min(f[1] for f in floors)
    floor_s = matmul_s + argsort_s

    print(
        f"sizes: query={args.queries} gallery={args.gallery} dim={DIM} ids={NUM_IDS} cams={NUM_CAMS} "
        f"metric={args.metric} threads={torch.get_num_threads()} repeat={args.repeat} (best kept)"
    )
    blocks = -(-args.queries // block_rows(args.queries, args.gallery * 4, max_block_bytes, multiple=DEFAULT_CHUNK_ROWS))
    print(f"blocks: max_block_mb={args.max_block_mb} evaluator_blocks={blocks} floor_blocks={-(-args.queries // floor_rows)}")
    print(
        f"metrics: mAP={metrics.mAP:.4f} rank1={metrics.rank(1):.4f} mINP={metrics.mINP:.4f} "
        f"valid_queries={metrics.num_valid_queries}/{metrics.num_queries}"
    )
    print(f"floor: matmul_s={matmul_s:.3f} argsort_s={argsort_s:.3f}")
    print(
        f"distance_s={best.distance_s:.3f} metrics_s={best.metrics_s:.3f} total_s={best.total_s:.3f} "
        f"floor_s={floor_s:.3f} ratio={best.total_s / floor_s:.2f} peak_rss_mb={evaluator_rss:.0f}"
    )
    print(f"(peak RSS was {data_rss:.0f} MB before evaluating: torch's libraries and the features)")


if __name__ == "__main__":
    main()

"""``reidkit evaluate --features FILE.npz``: score saved features from any model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from reidkit.domain.errors import ReidkitError
from reidkit.entrypoints.commands.common import metrics_table, writable_output


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help="evaluate saved query/gallery features (Market-1501 protocol)")
    parser.add_argument("--features", required=True, type=Path, help="npz with query_/gallery_ features, pids, camids")
    parser.add_argument("--metric", choices=["euclidean", "cosine"], default="euclidean")
    parser.add_argument("--max-rank", type=int, default=50)
    parser.add_argument("--json", type=Path, help="write mAP, mINP, cmc, counts and seconds here")
    parser.add_argument("--rerank", action="store_true", help="k-reciprocal re-ranking (Zhong et al., plain distances)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="rerank.KEY=VALUE",
        help="re-ranking settings: rerank.k1 (20), rerank.k2 (6), rerank.lambda_value (0.3)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from reidkit.entrypoints.settings import load_profile

    # What the command line says is checked before torch is imported (a few seconds).
    rerank = load_profile(None, args.overrides).rerank
    if args.max_rank < 1:
        raise ReidkitError(f"--max-rank must be at least 1 (the CMC's length), got {args.max_rank}")
    if args.json:
        writable_output(args.json, "--json")

    from reidkit.adapters.evaluation.evaluator import RankingEvaluator
    from reidkit.adapters.evaluation.features_file import load_feature_file
    from reidkit.adapters.evaluation.rerank import KReciprocalReranker

    reranker = KReciprocalReranker(rerank.k1, rerank.k2, rerank.lambda_value) if args.rerank else None
    query, gallery = load_feature_file(args.features)
    evaluator = RankingEvaluator(metric=args.metric, max_rank=args.max_rank, reranker=reranker)
    metrics, timing = evaluator.timed_evaluate(query, gallery)
    seconds = timing.total_s
    print(metrics_table([(args.features.name, metrics)]))
    print(f"{seconds:.3f} s (distance + metrics)")
    if args.json:
        args.json.write_text(json.dumps({**metrics.as_dict(), "seconds": seconds}, indent=2))
    return 0

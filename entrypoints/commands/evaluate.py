"""``reidkit evaluate``: score saved features from any model (``--features FILE.npz``), or a trained
run's model on any supported data, test-only (``--run RUN``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from reidkit.domain.errors import ReidkitError
from reidkit.entrypoints.commands.common import (
    add_run_arguments,
    chosen_domains,
    metrics_table,
    over_values,
    print_spread,
    spread_by_domain,
    trained_run_from,
    writable_output,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="evaluate saved query/gallery features, or a trained run on its data (Market-1501 protocol)"
    )
    parser.add_argument("--features", type=Path, help="npz with query_/gallery_ features, pids, camids")
    add_run_arguments(parser)
    parser.add_argument(
        "--data", "--domain", dest="domains", action="append", help="with --run: a domain to score (default: the run's eval.domains); repeatable"
    )
    parser.add_argument(
        "--over",
        metavar="KEY=V1,V2,...",
        help="with --run: evaluate once per value of a setting and report the mean and spread, e.g. "
        "data.sets.vehicleid.trial=0..9 (VehicleID's random galleries); values are TOML, a..b an integer range",
    )
    parser.add_argument("--metric", choices=["euclidean", "cosine"], help="default: euclidean (--features), the run's (--run)")
    parser.add_argument("--max-rank", type=int, default=50)
    parser.add_argument("--json", type=Path, help="write mAP, mINP, cmc, counts and seconds here")
    parser.add_argument("--rerank", action="store_true", help="k-reciprocal re-ranking (Zhong et al., plain distances)")
    parser.set_defaults(handler=run)
    # --set: rerank.k1 (20), rerank.k2 (6), rerank.lambda_value (0.3) with --features; any setting of the run's profile with --run


def run(args: argparse.Namespace) -> int:
    if (args.features is None) == (args.run is None):
        raise ReidkitError("evaluate needs exactly one of --features FILE.npz or --run RUN")
    if args.max_rank < 1:
        raise ReidkitError(f"--max-rank must be at least 1 (the CMC's length), got {args.max_rank}")
    return _run_folder(args) if args.run is not None else _feature_file(args)


def _feature_file(args: argparse.Namespace) -> int:
    from reidkit.entrypoints.settings import load_profile

    if args.domains:
        raise ReidkitError("--data chooses a domain of a run's data; a feature file holds one query/gallery pair")
    # What the command line says is checked before torch is imported (a few seconds).
    rerank = load_profile(None, args.overrides).rerank
    if args.json:
        writable_output(args.json, "--json")

    from reidkit.adapters.evaluation.evaluator import RankingEvaluator
    from reidkit.adapters.evaluation.features_file import load_feature_file
    from reidkit.adapters.evaluation.rerank import KReciprocalReranker

    reranker = KReciprocalReranker(rerank.k1, rerank.k2, rerank.lambda_value) if args.rerank else None
    query, gallery = load_feature_file(args.features)
    evaluator = RankingEvaluator(metric=args.metric or "euclidean", max_rank=args.max_rank, reranker=reranker)
    metrics, timing = evaluator.timed_evaluate(query, gallery)
    seconds = timing.total_s
    print(metrics_table([(args.features.name, metrics)]))
    print(f"{seconds:.3f} s (distance + metrics)")
    if args.json:
        args.json.write_text(json.dumps({**metrics.as_dict(), "seconds": seconds}, indent=2))
    return 0


def _run_folder(args: argparse.Namespace) -> int:
    extra = [f"eval.max_rank={args.max_rank}"]
    extra += [f"eval.metric='{args.metric}'"] if args.metric else []
    extra += ["rerank.enabled=true"] if args.rerank else []
    args.overrides = [*args.overrides, *extra]
    variants = over_values(args.over) if args.over else [""]
    if args.over and not args.over.startswith(("data.", "eval.", "rerank.")):
        # the network is built once, from the run: only what is scored may vary
        raise ReidkitError(f"evaluate --over varies what is scored, not the model: {args.over.partition('=')[0]} must be a data., eval. or rerank. setting")
    runs = []
    for setting in variants:
        args_overrides = [*args.overrides, setting] if setting else args.overrides
        runs.append(trained_run_from(argparse.Namespace(**{**vars(args), "overrides": args_overrides})))
    names = chosen_domains(runs[0], args.domains)
    if args.json:
        writable_output(args.json, "--json")

    import time

    from reidkit.adapters.runtime.observers import progress_callback
    from reidkit.application.evaluate import evaluations
    from reidkit.entrypoints.trained import run_domains, run_evaluator, trained_extractor

    extractor = trained_extractor(
        runs[0], device=args.device, batch_size=args.batch_size, normalize=False, progress=progress_callback("features", not args.quiet)
    )
    started = time.perf_counter()
    scored = [
        {name: use_case.run() for name, use_case in evaluations(extractor, run_evaluator(run), run_domains(run), names).items()}
        for run in runs
    ]
    seconds = time.perf_counter() - started
    label = f"{runs[0].folder.name} ({runs[0].checkpoint.name})"
    rows = [
        (f"{label} -> {name}" + (f" [{setting}]" if setting else ""), metrics)
        for setting, by_domain in zip(variants, scored, strict=True)
        for name, metrics in by_domain.items()
    ]
    print(metrics_table(rows))
    spread = spread_by_domain(scored, names) if args.over else {}
    print_spread(spread, len(variants), args.over)
    print(f"{seconds:.1f} s (features + distance + metrics)")
    if args.json:
        payload = {
            "run": str(runs[0].folder),
            "checkpoint": str(runs[0].checkpoint),
            "domains": {name: metrics.as_dict() for name, metrics in scored[0].items()},
            "seconds": seconds,
        }
        if args.over:
            payload["over"] = [{"setting": v, "domains": {n: m.as_dict() for n, m in d.items()}} for v, d in zip(variants, scored, strict=True)]
            payload["mean_and_spread"] = {name: {k: {"mean": m, "std": sd} for k, (m, sd) in s.items()} for name, s in spread.items()}
        args.json.write_text(json.dumps(payload, indent=2))
    return 0

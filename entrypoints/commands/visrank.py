"""``reidkit visrank``: ranked-result pictures of a trained run on its data: each chosen query,
then its top-k gallery matches framed green (right identity) or red (wrong)."""

from __future__ import annotations

import argparse
from pathlib import Path

from reidkit.domain.errors import ReidkitError
from reidkit.entrypoints.commands.common import add_run_arguments, trained_run_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("visrank", help="pictures of a trained run's ranked results (query, then its top-k)")
    add_run_arguments(parser)
    parser.add_argument("--data", "--domain", dest="domain", help="a domain of the run's data (default: its first eval domain)")
    parser.add_argument("--top", type=int, default=10, help="matches per query (default 10)")
    parser.add_argument("--queries", type=int, default=8, help="how many queries, evenly spaced over the query set (default 8)")
    parser.add_argument("--out", type=Path, help="folder for the pictures (default: RUN/visrank/<domain>)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    for option, value in (("--top", args.top), ("--queries", args.queries)):
        if value < 1:
            raise ReidkitError(f"{option} must be at least 1, got {value}")
    trained = trained_run_from(args)
    name = args.domain or trained.profile.eval.domains[0]
    out = args.out or trained.folder / "visrank" / name

    import numpy as np

    from reidkit.adapters.data.images import load_image
    from reidkit.adapters.evaluation.distances import pairwise_distance
    from reidkit.adapters.evaluation.visrank import ranked_matches, ranked_row, stacked
    from reidkit.adapters.runtime.observers import progress_callback
    from reidkit.application.evaluate import pick_domain
    from reidkit.domain.types import EmbeddedSet
    from reidkit.entrypoints.trained import run_domains, trained_extractor

    dataset = pick_domain(run_domains(trained), name)
    extractor = trained_extractor(
        trained, device=args.device, batch_size=args.batch_size, normalize=False, progress=progress_callback("features", not args.quiet)
    )
    chosen = np.unique(np.linspace(0, len(dataset.query) - 1, min(args.queries, len(dataset.query))).round().astype(int))
    queries = [dataset.query[i] for i in chosen]
    normalize = trained.profile.eval.normalize
    query_features = extractor.encode(queries)
    gallery_features = extractor.encode(dataset.gallery)
    if normalize:
        query_features, gallery_features = query_features.normalized(), gallery_features.normalized()
    gallery = EmbeddedSet.of(gallery_features, dataset.gallery)
    distances = pairwise_distance(query_features.values, gallery.features.values, trained.profile.eval.metric)
    # at least 128 pixels high, so a small input size still shows who is who
    scale = max(1.0, 128 / trained.profile.input.height)
    cell = (round(trained.profile.input.height * scale), round(trained.profile.input.width * scale))
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for row, (index, record) in enumerate(zip(chosen, queries, strict=True)):
        order, correct = ranked_matches(distances[row], record.pid, record.camid, gallery.pids, gallery.camids, args.top)
        picture = ranked_row(
            load_image(record.path),
            [load_image(dataset.gallery[i].path) for i in order],
            correct.tolist(),
            cell=cell,
            caption=f"query {index} (id {record.pid}, camera {record.camid}): {int(correct.sum())}/{len(order)} correct",
        )
        picture.save(out / f"query_{index:05d}.png")
        rows.append(picture)
    stacked(rows).save(out / "ranks.png")
    print(f"{len(rows)} ranked-result pictures (top {args.top}) of {name} -> {out} (all of them in ranks.png)")
    return 0

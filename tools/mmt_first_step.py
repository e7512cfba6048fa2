r"""What MMT's students and teachers see at its first step: the figures behind docs/adaptation.md's
"Why the first epoch costs MMT+ so much".

Builds an MMT profile's container as `reidkit adapt` would (``build_app``), clusters the teachers'
mean features once (then the profile's refiners, as a run's epoch does), resets the four heads, and
over a few two-view target batches (routed by domain as MMT's step routes them) prints:
  - the cosine between the two models' (normalised) features of the same image (~0: unrelated spaces)
  - each student's hard CE and top-class accuracy on the pseudo labels, and how often its top class
    for a target image is a source identity (profiles with a labelled source, whose rows come first)
  - the peer teacher's entropy, the soft CE against it and how often its top class is the student's
  - the soft triplet's target: the peer teacher's distance gap (d_an - d_ap) on the student's hardest
    pairs, the probability its softmax puts on "the negative is farther", and how often it orders
    the pair the right way

    .venv/bin/python tools/mmt_first_step.py --profile mmt_uda --source-root runs/results --seed 0
    .venv/bin/python tools/mmt_first_step.py --profile mmt_usl --pretrained PATH [--calibrate-neck]

UDA profiles start from ``<source-root>/seed{S}/direct_transfer/checkpoints/best.pt`` and the
peer from seed S + 1's; ``--calibrate-neck`` first sets every model's BN-neck statistics from ten
target batches (what a fresh neck lacks when the starting model has none). ``--set KEY=VALUE``
goes to the profile as on the command line.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from reidkit.adapters.data.batch import TrainingBatch
from reidkit.adapters.encoders.mean_features import mean_of_normalised
from reidkit.adapters.losses.mutual import hardest_indices, soft_cross_entropy
from reidkit.adapters.losses.triplet import euclidean_distances
from reidkit.adapters.models.dsbn import domains
from reidkit.domain.ports import LabelRefiner, PseudoLabeler
from reidkit.domain.types import FeatureMatrix, PseudoLabels
from reidkit.entrypoints.app import build_app
from reidkit.entrypoints.settings import load_profile


def overrides(args: argparse.Namespace) -> list[str]:
    settings = [f"seed={args.seed}", "runtime.threads=1", *args.set]
    if args.pretrained:
        settings.append(f"model.pretrained='{args.pretrained}'")
    if args.source_root:
        root = args.source_root
        settings += [
            f"adapt.source_model='{root}/seed{args.seed}/direct_transfer/checkpoints/best.pt'",
            f"mean_teach.peer_source_model='{root}/seed{args.seed + 1}/direct_transfer/checkpoints/best.pt'",
        ]
    return settings


def pseudo_labels(features: FeatureMatrix, labeler: PseudoLabeler, refiners: Sequence[LabelRefiner]) -> PseudoLabels:
    """The labels as a run's epoch makes them: the labeler's clusters, then each refiner in turn."""
    labels = labeler.assign(features)
    for refiner in refiners:
        labels = refiner.refine(features, labels)
    return labels


def calibrate_necks(models: list[torch.nn.Module], batches) -> None:
    """Each neck's running statistics become the mean and variance over ``batches``."""
    if not all(isinstance(model.neck, torch.nn.modules.batchnorm._BatchNorm) for model in models):
        raise SystemExit("--calibrate-neck needs a plain BatchNorm neck; this one is domain-specific (model.dsbn = true)")
    momenta = [model.neck.momentum for model in models]
    for model in models:
        model.eval()
        model.neck.train()
        model.neck.reset_running_stats()
        model.neck.momentum = None  # a cumulative average
    with torch.no_grad():
        for index, batch in enumerate(batches):
            if index == 10:
                break
            for position, model in enumerate(models):
                with domains(model, batch.domains):
                    model(batch.images[:, position % 2])
    for model, momentum in zip(models, momenta):
        model.neck.momentum = momentum


def forward(model: torch.nn.Module, images: torch.Tensor, batch: TrainingBatch):
    """``model`` on ``images`` routed by the batch's domains (a DSBN model), as the step runs it."""
    with domains(model, batch.domains):
        return model(images)


def first_step(batch: TrainingBatch, students: list, teachers: list, label_offset: int) -> dict[str, float]:
    images, labels = batch.images, batch.labels + label_offset
    with torch.no_grad():
        out_s = [forward(model, images[:, view], batch) for view, model in enumerate(students)]
        out_t = [forward(model, images[:, view], batch) for view, model in enumerate(teachers)]
    peers = (out_t[1], out_t[0])
    row: dict[str, list[float]] = {}
    for student, peer in zip(out_s, peers):
        distances_s = euclidean_distances(student.features.float())
        distances_t = euclidean_distances(peer.features.float())
        ap, an, valid = hardest_indices(distances_s, labels)
        rows = torch.arange(len(labels))
        gap = (distances_t[rows, an] - distances_t[rows, ap])[valid]
        values = {
            "hard CE": F.cross_entropy(student.logits.float(), labels).item(),
            "accuracy": (student.logits.argmax(1) == labels).float().mean().item(),
            "top class a source identity": (student.logits.argmax(1) < label_offset).float().mean().item(),
            "peer teacher entropy": soft_cross_entropy(peer.logits, peer.logits).item(),
            "soft CE vs peer": soft_cross_entropy(student.logits, peer.logits).item(),
            "top class = peer's": (student.logits.argmax(1) == peer.logits.argmax(1)).float().mean().item(),
            "peer gap on hardest pairs": gap.mean().item(),
            "peer target P(negative farther)": torch.sigmoid(gap).mean().item(),
            "peer orders the pair right": (gap > 0).float().mean().item(),
            "mean pairwise distance": distances_s.mean().item(),
        }
        for name, value in values.items():
            row.setdefault(name, []).append(value)
    return {name: float(np.mean(values)) for name, values in row.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="mmt_uda")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--source-root", default="", help="folder of seedN/direct_transfer runs (UDA profiles)")
    parser.add_argument("--pretrained", default="", help="model.pretrained (USL profiles)")
    parser.add_argument("--calibrate-neck", action="store_true")
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--work-dir", default="runs/mmt_first_step")
    args = parser.parse_args()

    method = load_profile(args.profile).method
    if method != "mean_teach":
        raise SystemExit(f"profile {args.profile!r} is a {method} profile, not MMT (method = 'mean_teach')")
    app = build_app(load_profile(args.profile, overrides(args)), work_dir=args.work_dir)
    with app:
        container = app.container
        peers = (container.peer_1, container.peer_2)
        students = [peer.student.model() for peer in peers]
        teachers = [peer.teacher() for peer in peers]
        views = container.adaptation.target_batches()
        clustering = (container.adaptation.labeler(), container.adaptation.refiners())
        if args.calibrate_neck:
            features = container.features().collect()
            views.reset(features, pseudo_labels(features, *clustering))
            calibrate_necks([*students, *teachers], views.epoch(0))
        # each teacher's features once: the cosine needs them apart, the labels their mean
        parts = [source.collect().normalized() for source in container.features().sources]
        features = mean_of_normalised(parts)
        labels = pseudo_labels(features, *clustering)
        for consumer in container.consumers():
            consumer.reset(features, labels)
        for model in (*students, *teachers):
            model.train()
        # with a labelled source (MMT+) the heads hold its identities first, as the training batches' labels
        label_offset = container.adaptation.label_space().target_offset
        if students[0].classifier.out_features != label_offset + labels.num_clusters:
            raise SystemExit(
                f"the heads have {students[0].classifier.out_features} classes, not {label_offset} source "
                f"identities + {labels.num_clusters} clusters"
            )
        batches = zip(range(args.batches), views.epoch(1))
        rows = [first_step(batch, students, teachers, label_offset) for _, batch in batches]

    print(f"{args.profile}, seed {args.seed}: {labels.num_clusters} clusters")
    print(f"cosine between the two models' features of the same image: {np.mean(np.sum(parts[0].values * parts[1].values, 1)):.3f}")
    for name in rows[0]:
        print(f"{name:>34}: {np.mean([row[name] for row in rows]):.3f}")


if __name__ == "__main__":
    main()

r"""Scores each of an MMT checkpoint's four networks on the target, and the mean of the teachers.

MMT evaluates its first mean teacher; this says whether a fall in that figure is the students', the
teachers' or one model's (docs/adaptation.md, "The end: MMT's mean teachers gain, its peer
losses cost").

    .venv/bin/python tools/mmt_checkpoint_models.py --profile mmt_plus_uda \
        --checkpoint RUN/checkpoints/epoch_0010.pt [--checkpoint RUN/checkpoints/best.pt ...]

The profile only builds the networks and the target's query and gallery; the weights come from
each checkpoint (heads left out: they are sized by that epoch's clusters and not used here).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from reidkit.adapters.encoders.mean_features import mean_of_normalised
from reidkit.domain.types import EmbeddedSet
from reidkit.entrypoints.app import build_app
from reidkit.entrypoints.settings import load_profile


def without_heads(state: dict) -> dict:
    return {name: tensor for name, tensor in state.items() if not name.startswith("classifier.")}


def load_networks(checkpoint: Path, students: list, teachers: list) -> int:
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    step = saved["components"]["step"]
    for model, state in zip([*students, *teachers], [*step["students"], *step["teachers"]]):
        missing, unexpected = model.load_state_dict(without_heads(state), strict=False)
        if unexpected or any(not name.startswith("classifier.") for name in missing):
            raise SystemExit(f"{checkpoint}: weights do not fit the profile's network ({unexpected or missing})")
    return int(saved["progress"]["epochs_done"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="mmt_plus_uda")
    parser.add_argument("--checkpoint", type=Path, action="append", required=True)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--work-dir", default="runs/mmt_checkpoint_models")
    args = parser.parse_args()

    # peer_start 'same' builds the second student without a second source model; its weights come
    # from the checkpoint anyway
    settings = ["runtime.threads=1", "adapt.start_from='scratch'", "mean_teach.peer_start='same'", *args.set]
    method = load_profile(args.profile).method
    if method != "mean_teach":
        raise SystemExit(f"profile {args.profile!r} is a {method} profile, not MMT (method = 'mean_teach')")
    app = build_app(load_profile(args.profile, settings), work_dir=args.work_dir)
    with app:
        peers = (app.container.peer_1, app.container.peer_2)
        students = [peer.student.model() for peer in peers]
        teachers = [peer.teacher() for peer in peers]
        encoders = {
            "student 1": peers[0].student.encoder(),
            "student 2": peers[1].student.encoder(),
            "teacher 1 (evaluated)": peers[0].teacher_encoder(),
            "teacher 2": peers[1].teacher_encoder(),
        }
        target = app.container.data.domains()["target"]
        evaluator = app.container.data.evaluator()
        for checkpoint in args.checkpoint:
            epoch = load_networks(checkpoint, students, teachers)
            query = {name: encoder.encode(target.query) for name, encoder in encoders.items()}
            gallery = {name: encoder.encode(target.gallery) for name, encoder in encoders.items()}
            # as MMT clusters: the normalised mean of both teachers' features
            for features in (query, gallery):
                teachers_features = [features["teacher 1 (evaluated)"], features["teacher 2"]]
                features["mean of teachers"] = mean_of_normalised(teachers_features)
            for name in query:
                metrics = evaluator.evaluate(
                    EmbeddedSet.of(query[name], target.query), EmbeddedSet.of(gallery[name], target.gallery)
                )
                print(f"epoch {epoch:>2} {name:>22}: mAP {metrics.mAP:.4f}  rank-1 {metrics.cmc[0]:.4f}", flush=True)


if __name__ == "__main__":
    main()

"""How well a trained mask head finds the object: the mean IoU of its thresholded mask with the
true foreground on the test images (query + gallery) of a run's data, and a picture of some
predictions (input | predicted mask | true mask), for issue 21's README.

The true foreground is the dataset's own mask (``masks/<split folder>/<stem>.png`` beside the
split folders: the embedded baggage data writes one per image). The prediction is the model's
``predict_mask`` on the run's test transform, thresholded at ``--threshold``; both are compared at
the input size.

    .venv/bin/python tools/mask_quality.py --run runs/mvb/seed0/mvb_mask
    .venv/bin/python tools/mask_quality.py --run RUN --threshold 0.5 --grid 8 --out grid.png

Beside it, the same figure for an image-independent mask (the pixels that are foreground in at
least half of the test images), and both for the probe and the gallery side apart. The figures go
to stdout and to RUN/mask_quality.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from reidkit.adapters.data.images import load_image
from reidkit.adapters.data.transforms import IMAGENET_MEAN, IMAGENET_STD, build_test_transform
from reidkit.adapters.translation.grid import image_grid
from reidkit.application.evaluate import pick_domain
from reidkit.entrypoints.trained import open_run, run_domains, trained_network

OUTPUT = "mask_quality.json"


def true_mask(path: str, height: int, width: int) -> np.ndarray | None:
    image = Path(path)
    mask = image.parent.parent / "masks" / image.parent.name / f"{image.stem}.png"
    if not mask.is_file():
        return None
    return np.asarray(Image.open(mask).convert("L").resize((width, height), Image.NEAREST)) > 127


def measure(run_dir: Path, *, threshold: float, grid: int, out: Path | None, batch_size: int = 32) -> dict[str, float]:
    run = open_run(run_dir, "best")
    profile = run.profile
    if not profile.model.mask_head:
        raise SystemExit(f"mask_quality: {run_dir} has no mask head (model.mask_head = false)")
    height, width = profile.input.height, profile.input.width
    network = trained_network(run)
    domain = pick_domain(run_domains(run), profile.eval.domains[0])
    records = [*domain.query, *domain.gallery]
    transform = build_test_transform(height, width)
    ious, shown, truths, probe = [], [], [], []
    probes = {r.path for r in domain.query}
    for start in range(0, len(records), batch_size):
        chunk = records[start : start + batch_size]
        images = torch.stack([transform(load_image(r.path)) for r in chunk])
        with torch.no_grad():
            predicted = network.predict_mask(images)[:, 0].numpy()
        for record, image, mask in zip(chunk, images, predicted, strict=True):
            truth = true_mask(record.path, height, width)
            if truth is None:
                continue
            ious.append(iou(mask > threshold, truth))
            truths.append(truth)
            probe.append(record.path in probes)
            if len(shown) < grid:
                shown.append((image, mask, truth))
    if not ious:
        raise SystemExit(f"mask_quality: no test image of {run_dir}'s data has a true mask (masks/<split>/<stem>.png)")
    if out is not None and shown:
        mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
        to_gan = lambda image: (image * std + mean) * 2 - 1  # noqa: E731 - the grid takes [-1, 1]
        as_rgb = lambda mask: torch.from_numpy(np.asarray(mask, dtype=np.float32)).expand(3, -1, -1) * 2 - 1  # noqa: E731
        columns = [torch.stack([to_gan(i) for i, _, _ in shown]), torch.stack([as_rgb(m) for _, m, _ in shown]),
                   torch.stack([as_rgb(t) for _, _, t in shown])]  # fmt: skip
        image_grid(columns).save(out)
    # what an image-independent mask scores: the pixels that are foreground in at least half of
    # the test images, the best a head that only learned where objects usually are could do
    prior = np.mean(truths, axis=0) >= 0.5
    prior_ious = [iou(prior, truth) for truth in truths]
    is_probe = np.asarray(probe)
    ious_array, prior_array = np.asarray(ious), np.asarray(prior_ious)
    return {
        "mean_iou": float(ious_array.mean()),
        "probe_iou": float(ious_array[is_probe].mean()) if is_probe.any() else float("nan"),
        "gallery_iou": float(ious_array[~is_probe].mean()) if (~is_probe).any() else float("nan"),
        "fixed_mask_iou": float(prior_array.mean()),
        "fixed_mask_probe_iou": float(prior_array[is_probe].mean()) if is_probe.any() else float("nan"),
        "fixed_mask_gallery_iou": float(prior_array[~is_probe].mean()) if (~is_probe).any() else float("nan"),
        "images": float(len(ious)),
        "threshold": threshold,
    }


def iou(kept: np.ndarray, truth: np.ndarray) -> float:
    union = np.logical_or(kept, truth).sum()
    return float(np.logical_and(kept, truth).sum() / union) if union else 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a run folder of a profile with a mask head")
    parser.add_argument("--threshold", type=float, default=0.5, help="the predicted mask is the pixels above this")
    parser.add_argument("--grid", type=int, default=8, help="rows of the picture (input | predicted | true)")
    parser.add_argument("--out", type=Path, help="the picture (default RUN/mask_grid.png)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    figures = measure(args.run, threshold=args.threshold, grid=args.grid, out=args.out or args.run / "mask_grid.png")
    (args.run / OUTPUT).write_text(json.dumps(figures, indent=1))
    print(
        f"{args.run}: mean IoU {figures['mean_iou']:.3f} over {int(figures['images'])} test images (mask > {args.threshold}; "
        f"probe {figures['probe_iou']:.3f}, gallery {figures['gallery_iou']:.3f}); an image-independent mask: "
        f"{figures['fixed_mask_iou']:.3f} (probe {figures['fixed_mask_probe_iou']:.3f}, gallery {figures['fixed_mask_gallery_iou']:.3f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

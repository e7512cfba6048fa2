"""``reidkit extract``: a trained run's features of a data set's query/gallery, or of a folder of
images, in the files ``evaluate`` and ``label`` read."""

from __future__ import annotations

import argparse
from pathlib import Path

from reidkit.domain.errors import ReidkitError
from reidkit.entrypoints.commands.common import add_run_arguments, trained_run_from, writable_output

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("extract", help="features of a trained run on a data set or a folder of images")
    add_run_arguments(parser)
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--data",
        "--domain",
        dest="domain",
        help="a domain of the run's data (default: its first eval domain); writes query/gallery .npz for evaluate",
    )
    source.add_argument("--images", type=Path, help="a folder of images (searched recursively); writes a (N, D) .npy for label")
    parser.add_argument("--out", required=True, type=Path, help=".npz with --data, .npy with --images")
    parser.add_argument(
        "--raw", action="store_true", help="the network's outputs as they are (default: as the run's evaluation compares them)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    run_ = trained_run_from(args)
    wanted = ".npy" if args.images is not None else ".npz"
    if args.out.suffix != wanted:
        raise ReidkitError(f"--out {args.out} must end in {wanted} ({'--images' if args.images else '--data'} writes one)")
    images = _image_files(args.images) if args.images is not None else None
    writable_output(args.out, "--out")

    from reidkit.adapters.runtime.observers import progress_callback
    from reidkit.entrypoints.trained import trained_extractor

    extractor = trained_extractor(
        run_, device=args.device, batch_size=args.batch_size, normalize=False, progress=progress_callback("features", not args.quiet)
    )
    normalize = run_.profile.eval.normalize and not args.raw
    if images is not None:
        _extract_images(extractor, images, args.out, normalize)
    else:
        _extract_domain(extractor, run_, args.domain, args.out, normalize)
    return 0


def _image_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ReidkitError(f"--images {folder} is not a folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ReidkitError(f"--images {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def _extract_images(extractor, images: list[Path], out: Path, normalize: bool) -> None:  # noqa: ANN001
    import numpy as np

    from reidkit.domain.types import FeatureMatrix
    from reidkit.entrypoints.commands.common import write_atomically

    features = FeatureMatrix(extractor(images))
    if normalize:
        features = features.normalized()
    listing = out.with_suffix(".paths.txt")
    write_atomically(out, lambda handle: np.save(handle, features.values))
    write_atomically(listing, lambda handle: handle.write("".join(f"{p}\n" for p in images).encode()))
    print(f"{len(images)} images -> {out} ({features.values.shape[0]} x {features.values.shape[1]}), their paths in {listing}")


def _extract_domain(extractor, run_, domain: str | None, out: Path, normalize: bool) -> None:  # noqa: ANN001
    import numpy as np

    from reidkit.application.evaluate import pick_domain
    from reidkit.domain.types import EmbeddedSet
    from reidkit.entrypoints.commands.common import write_atomically
    from reidkit.entrypoints.trained import run_domains

    name = domain or run_.profile.eval.domains[0]
    dataset = pick_domain(run_domains(run_), name)
    arrays = {}
    for side, records in (("query", dataset.query), ("gallery", dataset.gallery)):
        features = extractor.encode(records)
        embedded = EmbeddedSet.of(features.normalized() if normalize else features, records)
        arrays |= {
            f"{side}_features": embedded.features.values,
            f"{side}_pids": embedded.pids,
            f"{side}_camids": embedded.camids,
            f"{side}_paths": np.array([r.path for r in records]),
        }
    write_atomically(out, lambda handle: np.savez(handle, **arrays))
    unit = "tracklets (paths: their first frames)" if dataset.is_video else "images"
    print(f"{name}: {len(dataset.query)} query and {len(dataset.gallery)} gallery {unit} -> {out}")

"""``reidkit translate``: train an image translator (CycleGAN, SPGAN) and render the source domain
in the target's style (``--profile``), or render any folder of images with a trained one
(``--run RUN --images DIR --out DIR``)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from reidkit.domain.errors import ReidkitError
from reidkit.entrypoints.commands.common import (
    add_overrides,
    add_profile_arguments,
    profile_from,
    refuse_reuse_without_resume,
    run_folder,
    train_run,
)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "translate",
        help="train an image translator (cyclegan, spgan) and render the source in the target's style, "
        "or render a folder of images with a trained one (--run, --images, --out)",
    )
    add_profile_arguments(parser, default="spgan")
    parser.add_argument("--work-dir", help="run folder (default: runs/<profile name>)")
    parser.add_argument("--run", type=Path, help="a translation run folder whose translator renders --images")
    parser.add_argument("--images", type=Path, help="a folder of .jpg/.jpeg/.png images (sub-folders kept)")
    parser.add_argument("--out", type=Path, help="where the rendered images go (same relative names)")
    parser.add_argument("--checkpoint", default="latest", help="latest (default), best, or a checkpoint file of --run")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    parser.add_argument("--batch-size", type=int, help="images per forward pass (default: the profile's render batch)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    rendering = [args.run, args.images, args.out]
    if any(value is not None for value in rendering):
        if not all(value is not None for value in rendering):
            raise ReidkitError("rendering with a trained translator needs --run, --images and --out together")
        return _render_folder(args)
    profile = profile_from(args)
    if profile.method != "translate":
        raise ReidkitError(f"profile '{profile.name}' is a {profile.method} profile; `reidkit translate` runs translate profiles (cyclegan, spgan)")
    run_dir = run_folder(profile, args.work_dir)
    refuse_reuse_without_resume(profile, run_dir)
    started = time.perf_counter()
    train_run(profile, run_dir, args.hook)
    from reidkit.entrypoints.methods.translate import TRANSLATED_DIR

    print(f"\nthe source in the target's style: {run_dir / TRANSLATED_DIR} (Market layout; manifest.json)")
    print(f"previews: {run_dir / 'previews'}")
    print(f"total time: {time.perf_counter() - started:.0f} s")
    return 0


def _render_folder(args: argparse.Namespace) -> int:
    from reidkit.entrypoints.trained import PROFILE_FILE, TrainedRun, checkpoint_file
    from reidkit.entrypoints.settings import load_profile

    if not (args.run / PROFILE_FILE).is_file():
        raise ReidkitError(f"{args.run} has no {PROFILE_FILE}; give the folder of a `reidkit translate` run")
    profile = load_profile(str(args.run / PROFILE_FILE), args.overrides)
    if profile.method != "translate":
        raise ReidkitError(f"{args.run} is a {profile.method} run, not a translation run (cyclegan, spgan)")
    trained = TrainedRun(folder=args.run, profile=profile, checkpoint=checkpoint_file(args.run, args.checkpoint))
    images = args.images
    if not images.is_dir():
        raise ReidkitError(f"--images {images} is not a folder")
    files = sorted(p for p in images.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ReidkitError(f"--images {images} holds no .jpg, .jpeg or .png image")
    if args.out.resolve() == images.resolve():
        raise ReidkitError("--out must differ from --images: rendering keeps file names and would overwrite the originals")
    started = time.perf_counter()
    translator = trained_translator(trained, args.device, args.batch_size)
    from reidkit.domain.types import ImageRecord

    by_folder: dict[Path, list[Path]] = {}
    for path in files:
        by_folder.setdefault(path.parent.relative_to(images), []).append(path)
    written = 0
    for folder, paths in by_folder.items():
        records = [ImageRecord(path=str(p), pid=0, camid=0) for p in paths]
        written += len(translator.translate(records, str(args.out / folder)))
    print(f"rendered {written} images of {images} into {args.out} in {time.perf_counter() - started:.0f} s")
    return 0


def trained_translator(trained, device: str, batch_size: int | None):  # noqa: ANN001, ANN201 - torch objects
    """The source-to-target generator of a translation run, with its weights, as a Translator."""
    from reidkit.adapters.runtime.checkpoint import read_checkpoint
    from reidkit.adapters.runtime.device import resolve_device
    from reidkit.adapters.translation.render import GeneratorTranslator
    from reidkit.entrypoints.methods.translate import gan_networks
    from reidkit.entrypoints.settings import unstructure_options

    profile = trained.profile
    options = unstructure_options(_options(profile))
    generators, _ = gan_networks(options, profile.seed)
    state = read_checkpoint(trained.checkpoint)["components"]["step"]["generators"]
    generators.load_state_dict(state)
    chosen = resolve_device(device)
    generators.to(chosen)
    return GeneratorTranslator(
        generators.to_target,
        height=profile.input.height,
        width=profile.input.width,
        device=chosen,
        batch_size=batch_size or options["render_batch_size"],
    )


def _options(profile):  # noqa: ANN001, ANN202
    from reidkit.entrypoints.app import checked_options
    from reidkit.entrypoints.methods import method_spec

    return checked_options(profile, method_spec(profile.method))

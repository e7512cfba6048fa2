"""``reidkit export``: a trained run's network as ONNX, TorchScript or safetensors, checked against
the torch network on real images of the run's data before the file is put in place."""

from __future__ import annotations

import argparse
from pathlib import Path

from reidkit.domain.errors import ReidkitError
from reidkit.entrypoints.commands.common import add_run_arguments, trained_run_from, writable_output

FORMATS = ("onnx", "torchscript", "safetensors")  # adapters.models.export.FORMATS, without importing torch


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="export a trained run's network (ONNX, TorchScript, safetensors) with a parity check")
    add_run_arguments(parser)
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--out", type=Path, help="the file to write (default: RUN/export/model.<format suffix>)")
    parser.add_argument("--data", "--domain", dest="domain", help="whose query images check the file (default: the run's first eval domain)")
    parser.add_argument("--check-images", type=int, default=8, help="images in the parity batch (default 8)")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest absolute difference allowed (default 1e-4)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.check_images < 2:
        raise ReidkitError(f"--check-images must be at least 2 (a batch and a single image are checked), got {args.check_images}")
    if not args.tolerance > 0:
        raise ReidkitError(f"--tolerance must be positive, got {args.tolerance}")
    trained = trained_run_from(args)

    import os
    import tempfile

    import numpy as np
    import torch

    from reidkit.adapters.data.images import load_image
    from reidkit.adapters.data.transforms import build_test_transform
    from reidkit.adapters.models.export import SUFFIXES, export_network, exported_outputs
    from reidkit.application.evaluate import pick_domain
    from reidkit.entrypoints.settings import profile_toml
    from reidkit.entrypoints.trained import run_domains, trained_network

    out = args.out or trained.folder / "export" / f"model{SUFFIXES[args.format]}"
    writable_output(out, "--out")
    name = args.domain or trained.profile.eval.domains[0]
    query = pick_domain(run_domains(trained), name).query[: args.check_images]
    transform = build_test_transform(trained.profile.input.height, trained.profile.input.width)
    batch = torch.stack([transform(load_image(record.path)) for record in query])
    network = trained_network(trained, "cpu")
    with torch.no_grad():
        expected = network(batch).numpy()
    metadata = {"profile": profile_toml(trained.profile), "checkpoint": str(trained.checkpoint), "input": "NCHW, test transform", "output": "features"}
    fd, staged = tempfile.mkstemp(prefix=f".{out.name}.", suffix=SUFFIXES[args.format], dir=out.parent)
    os.close(fd)
    try:
        export_network(network, batch, Path(staged), args.format, metadata)
        rebuild = trained_network(trained, "cpu") if args.format == "safetensors" else None
        differences = [
            float(np.abs(exported_outputs(Path(staged), args.format, part, rebuild) - want).max())
            for part, want in ((batch, expected), (batch[:1], expected[:1]))
        ]
        worst = max(differences)
        if not worst <= args.tolerance:
            raise ReidkitError(
                f"the {args.format} export differs from the torch network by {worst:.3g} (> --tolerance {args.tolerance:g}) "
                f"on {len(batch)} images of {name}; nothing was written"
            )
        os.replace(staged, out)
    finally:
        Path(staged).unlink(missing_ok=True)
    print(
        f"{args.format} -> {out}: largest difference from the torch network {worst:.2e} on {len(batch)} {name} images "
        f"(batch of {len(batch)} and of 1)"
    )
    return 0

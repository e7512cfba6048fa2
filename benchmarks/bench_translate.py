"""Images/s of translator training and of rendering, against the networks alone, in one run.

    .venv/bin/python benchmarks/bench_translate.py [--profile spgan] [--preset demo] [--steps 20]
                                                   [--rounds 3] [--device auto] [--data-dir DIR]

The translate profile (``spgan`` or ``cyclegan``) at the embedded scale of ``--preset``, built by
the composition root that ``reidkit translate`` uses, on the device it picks. Each figure counts
source + target images per second from the median step time (robust to another process's stall):

- networks: the generators, discriminators (and SPGAN's metric network) forward, backward and
  update alone, on one pre-made batch already on the device, with no history pool (a translation
  step built with ``translate.pool_size = 0``);
- training: the step as the epoch loop runs it, fed by the batch source, with the profile's pool
  of 50 (the copy to the device included). ``training/networks`` is the share of the networks'
  speed that training keeps (the target is >= 0.85: data loading and the pool hidden behind the
  networks);
- rendering: the trained generator (random weights: speed does not depend on them) writing the
  source's training images as the end of a translation run does (decode, forward, encode, write).

With generator_every = 2 (SPGAN) the steps alternate between with and without the generators,
so every figure is taken over an even number of steps.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from reidkit.entrypoints.app import build_app
from reidkit.entrypoints.parts.data import default_data_dir
from reidkit.entrypoints.settings import load_profile


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(items, warmup: int, work, device: torch.device) -> float:  # noqa: ANN001
    """Images/s: a batch's size over the median time of a pair of consecutive steps / 2 (a pair
    holds one generator step when they alternate)."""
    stamps, sizes = [], []
    for done, item in enumerate(items):
        work(item)
        synchronize(device)
        if done >= warmup:
            stamps.append(time.perf_counter())
            sizes.append(len(item))
    pairs = [(stamps[i + 2] - stamps[i]) / 2 for i in range(0, len(stamps) - 2, 2)]
    assert pairs, "fewer items than the warm-up and two steps"
    return statistics.median(sizes) / statistics.median(pairs)


def some_batches(source, count: int, first_epoch: int):  # noqa: ANN001, ANN201 - a BatchSource
    epoch = first_epoch
    while True:
        for batch in source.epoch(epoch):
            yield batch
            count -= 1
            if count == 0:
                return
        epoch += 1


def build(args: argparse.Namespace, run_dir: Path, *extra: str):  # noqa: ANN201 - an App
    overrides = [
        f"data.preset='{args.preset}'", f"data.cache_dir='{args.data_dir}'", f"runtime.device='{args.device}'",
        "runtime.quiet=true", "runtime.resume=false", "seed=0", *extra,
    ]  # fmt: skip
    return build_app(load_profile(args.profile, overrides), work_dir=str(run_dir))


def measure(args: argparse.Namespace, folder: Path) -> dict[str, object]:
    total = args.warmup + args.steps
    with build(args, folder / "networks", "translate.pool_size=0") as bare:
        device = bare.container.training.process().device
        step = bare.container.step()
        step.begin_epoch(0)
        made = next(iter(bare.container.batches().epoch(0))).to(device)
        profile = bare.profile
        networks = 0.0
        for _ in range(args.rounds):
            step.begin_epoch(0)
            networks = max(networks, timed(iter([made] * total), args.warmup, step.run, device))
    with build(args, folder / "training") as app:
        step, source = app.container.step(), app.container.batches()
        training = 0.0
        for round_ in range(args.rounds):
            step.begin_epoch(0)
            fresh = some_batches(source, total, first_epoch=100 * (round_ + 1))  # batches never seen before
            training = max(training, timed(fresh, args.warmup, step.run, device))
        translator = app.container.translator()
        records = app.container.data.train_set().train[: args.render_images]
        started = time.perf_counter()
        translator.translate(records, str(folder / "rendered"))
        synchronize(device)
        rendering = len(records) / (time.perf_counter() - started)
    return {"profile": profile, "device": device, "networks": networks, "training": training, "rendering": rendering, "rendered": len(records)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="spgan", help="a translate profile: spgan or cyclegan")
    parser.add_argument("--preset", default="demo", choices=("tiny", "demo"))
    parser.add_argument("--steps", type=int, default=20, help="timed steps of each training figure (even)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (even: start-up, allocator)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each training figure (best kept)")
    parser.add_argument("--render-images", type=int, default=256, help="source images rendered for the rendering figure")
    parser.add_argument("--device", default="auto", help="runtime.device: auto (CUDA when present), cpu, cuda")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--data-dir", type=Path, default=default_data_dir(), help="the synthetic data's cache")
    args = parser.parse_args()
    if args.steps % 2 or args.warmup % 2:
        parser.error("--steps and --warmup must be even (SPGAN alternates generator steps)")
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench_translate.") as folder:
        row = measure(args, Path(folder))
    profile, device = row["profile"], row["device"]
    options = profile.method_options
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print(
        f"device: {device}{gpu}  torch {torch.__version__}  threads={torch.get_num_threads()}  "
        f"cpus={os.cpu_count()}  {platform.processor() or platform.machine()}"
    )
    print(
        f"{args.profile} at the {args.preset} scale: {profile.input.height}x{profile.input.width}, generators of "
        f"{options['generator_blocks']} blocks x width {options['generator_width']}, {options['batch_size']} images per "
        f"domain, generator_every={options['generator_every']}, amp={profile.train.amp}; {args.steps} timed steps after "
        f"{args.warmup}, best of {args.rounds} rounds"
    )
    print(f"{'networks img/s':>15} {'training img/s':>15} {'training/networks':>18} {'rendering img/s':>16}")
    print(
        f"{row['networks']:15.1f} {row['training']:15.1f} {row['training'] / row['networks']:18.2f} "
        f"{row['rendering']:16.1f}   ({row['rendered']} images rendered)"
    )


if __name__ == "__main__":
    main()

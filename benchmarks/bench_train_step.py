"""Images/s of the training loader, of the model step, and of the whole training step, in one run.

    .venv/bin/python benchmarks/bench_train_step.py [--preset demo] [--steps 20] [--rounds 3]
                                                    [--workers auto,0] [--device auto] [--data-dir DIR]

The strong baseline (profile ``strong_baseline``, supervised) at the embedded scale of ``--preset``
(demo: ResNet-18, 128x64 images, batches of 16 identities x 4 images), built by the composition
root that ``reidkit train`` uses, on the device it picks (CUDA when present), so the script runs on
a GPU unchanged. Three figures, each over ``--steps`` batches after ``--warmup`` untimed ones:

- loader: the training batch source alone (read, decode, augment, collate; pinned on CUDA), the
  batches dropped;
- model:  the training step alone (forward, losses, backward, optimiser) on one pre-made batch
  already on the device;
- whole:  the step fed by the loader, as the epoch loop runs it (the copy to the device included).

Each figure is images per second from the median batch time (robust to a stall caused by
another process). ``whole/model`` is the share of the model's speed that training keeps (the target is >= 0.9: the
data pipeline hidden behind the step). Each ``--workers`` value (``[input] num_workers``: "auto",
or a count) is measured in turn against the same model figure; "auto" is 0 workers on the CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from reidkit.entrypoints.app import build_app
from reidkit.entrypoints.parts.data import default_data_dir
from reidkit.entrypoints.settings import load_profile


def batches(source, count: int, first_epoch: int = 0) -> Iterator:  # noqa: ANN001 - a BatchSource
    """``count`` batches of ``source``, over as many epochs as it takes."""
    epoch = first_epoch
    while True:
        for batch in source.epoch(epoch):
            yield batch
            count -= 1
            if count == 0:
                return
        epoch += 1


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(items: Iterator, warmup: int, work, device: torch.device) -> float:  # noqa: ANN001
    """Images/s of ``work(item)`` over the items after the first ``warmup``: a batch's size over the
    median time from one batch's end to the next's (getting the item included), so that a stall
    caused by another process on a shared machine does not count as this pipeline's speed."""
    durations, sizes, last = [], [], None
    for done, item in enumerate(items):
        work(item)
        synchronize(device)
        now = time.perf_counter()
        if done >= warmup and last is not None:
            durations.append(now - last)
            sizes.append(len(item))
        last = now
    assert durations, "fewer items than the warm-up"
    return statistics.median(sizes) / statistics.median(durations)


def measure(args: argparse.Namespace, workers: str, run_dir: Path) -> dict[str, object]:
    overrides = [
        f"data.preset='{args.preset}'", f"data.cache_dir='{args.data_dir}'", f"input.num_workers={workers}",
        f"runtime.device='{args.device}'", "runtime.quiet=true", "runtime.resume=false", "seed=0",
    ]  # fmt: skip
    profile = load_profile("strong_baseline", overrides)
    total = args.warmup + args.steps
    with build_app(profile, work_dir=str(run_dir)) as app:
        device = app.container.training.process().device
        loading = app.container.training.loading()
        source, step = app.container.batches(), app.container.step()
        step.begin_epoch(0)
        try:
            loader = timed(batches(source, total), args.warmup, lambda batch: None, device)
            made = next(iter(source.epoch(0))).to(device)
            # model and whole alternate, --rounds times, each keeping its best round: a machine
            # shared with other work slows whichever phase it happens to overlap
            model = whole = 0.0
            for round_ in range(args.rounds):
                model = max(model, timed(iter([made] * total), args.warmup, step.run, device))
                fresh = batches(source, total, first_epoch=100 * (round_ + 1))  # batches never seen before
                whole = max(whole, timed(fresh, args.warmup, step.run, device))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()  # the loader's worker processes
    return {
        "workers": workers,
        "resolved": loading,
        "device": device,
        "profile": profile,
        "loader": loader,
        "model": model,
        "whole": whole,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="demo", choices=("tiny", "demo"))
    parser.add_argument("--steps", type=int, default=20, help="timed batches of each figure")
    parser.add_argument("--warmup", type=int, default=3, help="untimed batches first (start-up, allocator)")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the model and whole figures (best kept)")
    parser.add_argument("--workers", default="auto", help="comma-separated [input] num_workers values, e.g. auto,0,2")
    parser.add_argument("--device", default="auto", help="runtime.device: auto (CUDA when present), cpu, cuda")
    parser.add_argument("--data-dir", type=Path, default=default_data_dir(), help="the synthetic data's cache")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_train_step.") as folder:
        for number, workers in enumerate(w.strip() for w in args.workers.split(",")):
            rows.append(measure(args, workers if workers == "auto" else str(int(workers)), Path(folder) / str(number)))

    first = rows[0]
    profile, device = first["profile"], first["device"]
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print(
        f"device: {device}{gpu}  torch {torch.__version__}  threads={torch.get_num_threads()}  "
        f"cpus={os.cpu_count()}  {platform.processor() or platform.machine()}"
    )
    print(
        f"strong_baseline at the {args.preset} scale: {profile.model.backbone} {profile.input.height}x{profile.input.width}, "
        f"batch {profile.train.ids_per_batch}x{profile.train.instances_per_id}, amp={profile.train.amp}; "
        f"{args.steps} timed batches after {args.warmup}, best of {args.rounds} rounds"
    )
    print(f"{'num_workers':>12} {'resolved':>9} {'loader img/s':>13} {'model img/s':>12} {'whole img/s':>12} {'whole/model':>12} {'loader/model':>13}")
    for row in rows:
        loading = row["resolved"]
        resolved = f"{loading.num_workers}{'+pin' if loading.pin_memory else ''}"
        print(
            f"{row['workers']:>12} {resolved:>9} {row['loader']:13.1f} {row['model']:12.1f} {row['whole']:12.1f} "
            f"{row['whole'] / row['model']:12.2f} {row['loader'] / row['model']:13.2f}"
        )


if __name__ == "__main__":
    main()

"""The README's adaptation results table: every USL/UDA profile on the demo target, over seeds.

Rows per seed (each an ordinary reidkit run under --root, reused when already finished):
  untrained encoder      the demo model at initialisation, scored on the target test set
  generic backbone       `reidkit train --profile generic_backbone` (the `aux` domain; the stand-in
                         for ImageNet weights, trained once like ImageNet weights are): where USL
                         profiles start, scored on target
  direct transfer        `reidkit train --profile demo` (supervised on source), scored on target
  oracle                 the same supervised recipe on the target's true labels (upper bound)
  <profile>              `reidkit adapt --profile <profile>` (UDA profiles start from the seed's
                         direct-transfer model, USL profiles from the generic backbone)

Prints a markdown table of target mAP / rank-1 (mean ± standard deviation over seeds, from the
last evaluation of each run) and writes every number to --json.

    .venv/bin/python benchmarks/adapt_results.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROFILES = [
    "strong_baseline_usl", "cluster_contrast_usl", "spcl_usl",
    "strong_baseline_uda", "uda_tp", "cluster_contrast_uda", "spcl_uda",
]  # fmt: skip
REIDKIT = str(Path(sys.executable).with_name("reidkit"))


def last_target(run_dir: Path) -> dict | None:
    path = run_dir / "metrics.json"
    if not path.is_file():
        return None
    entries = [e for e in json.loads(path.read_text())["evaluations"] if e["domain"] == "target"]
    return entries[-1] if entries else None


def finished(run_dir: Path, epochs: int) -> bool:
    entry = last_target(run_dir)
    return entry is not None and entry["epoch"] == epochs


def run(args: list[str], log: Path) -> float:
    started = time.perf_counter()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        code = subprocess.call([REIDKIT, *args], stdout=out, stderr=subprocess.STDOUT)
    if code != 0:
        raise SystemExit(f"reidkit {' '.join(args)} failed with exit code {code}; see {log}")
    return time.perf_counter() - started


def profile_epochs(name: str) -> int:
    from reidkit.entrypoints.settings import load_profile

    return load_profile(name).train.epochs


def load_profile_start(name: str) -> str:
    from reidkit.entrypoints.settings import load_profile

    return load_profile(name).adapt.start_from


def untrained(seed: int) -> dict:
    from reidkit.entrypoints.containers import build_app
    from reidkit.entrypoints.settings import load_profile

    with build_app(load_profile("demo", [f"seed={seed}", "eval.domains=['target']"]), work_dir="/tmp/reidkit-untrained") as app:
        metrics = app.method.evaluations()["target"].run()
    return {"mAP": metrics.mAP, "cmc": list(metrics.cmc)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--profiles", nargs="+", default=PROFILES)
    parser.add_argument("--root", default="runs/results")
    parser.add_argument("--json", default="runs/results/results.json")
    args = parser.parse_args()
    root = Path(args.root)
    results: dict[str, dict[int, dict]] = {}
    seconds: dict[str, list[float]] = {}

    def record(row: str, seed: int, entry: dict | None, took: float | None = None) -> None:
        if entry is None:
            raise SystemExit(f"{row} (seed {seed}) has no target evaluation")
        results.setdefault(row, {})[seed] = {"mAP": entry["mAP"], "rank1": entry["cmc"][0]}
        if took is not None:
            seconds.setdefault(row, []).append(took)
        print(f"seed {seed} {row:<22} mAP {100 * entry['mAP']:6.2f}  R1 {100 * entry['cmc'][0]:6.2f}", flush=True)

    demo_epochs = profile_epochs("demo")
    generic = root / "generic_backbone"
    took = None
    if not finished(generic, profile_epochs("generic_backbone")):
        took = run(
            ["train", "--profile", "generic_backbone", "--set", "eval.domains=['aux','target']", "--work-dir", str(generic)],
            root / "generic_backbone.log",
        )
    from reidkit.adapters.models.heads import export_trunk

    backbone = export_trunk(generic / "checkpoints" / "best.pt", generic / "backbone.pt")
    for seed in args.seeds:
        base = root / f"seed{seed}"
        record("untrained encoder", seed, untrained(seed))
        record("generic backbone", seed, last_target(generic), took if seed == args.seeds[0] else None)
        pretrain = base / "direct_transfer"
        took = None
        if not finished(pretrain, demo_epochs):
            took = run(["train", "--profile", "demo", "--set", f"seed={seed}", "--work-dir", str(pretrain)], base / "direct_transfer.log")
        record("direct transfer", seed, last_target(pretrain), took)
        source_model = pretrain / "checkpoints" / "best.pt"
        for name in args.profiles:
            run_dir = base / name
            took = None
            if not finished(run_dir, profile_epochs(name)):
                start = load_profile_start(name)
                extra = {
                    "source_model": ["--set", f"adapt.source_model='{source_model}'"],
                    "pretrained": ["--set", f"model.pretrained='{backbone}'"],
                }.get(start, [])
                took = run(["adapt", "--profile", name, "--set", f"seed={seed}", *extra, "--work-dir", str(run_dir)], base / f"{name}.log")
            record(name, seed, last_target(run_dir), took)
        oracle = base / "oracle"
        took = None
        if not finished(oracle, demo_epochs):
            took = run(
                ["train", "--profile", "demo", "--set", f"seed={seed}", "--set", "train.domain='target'",
                 "--set", "eval.domains=['target']", "--work-dir", str(oracle)],
                base / "oracle.log",
            )  # fmt: skip
        record("oracle (target labels)", seed, last_target(oracle), took)

    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"results": results, "seconds": seconds}, indent=2))
    print(f"\n| demo target, {len(args.seeds)} seeds | mAP | rank-1 | run time |")
    print("|---|---|---|---|")
    for row, per_seed in results.items():
        cells = []
        for key in ("mAP", "rank1"):
            values = [100 * v[key] for v in per_seed.values()]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.1f} ± {spread:.1f}")
        took = f"{statistics.mean(seconds[row]):.0f} s" if row in seconds else "-"
        print(f"| {row} | {cells[0]} | {cells[1]} | {took} |")


if __name__ == "__main__":
    main()

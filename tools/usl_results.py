"""The README's USL table: every USL profile from the generic backbone, over seeds and precisions.

Each row is an ordinary run, reused when finished (a killed one resumes)::

    reidkit adapt --profile P --set data.preset=PRESET --set seed=S --set train.eval_start=true
        --set train.eval_every=4 --set model.pretrained=<generic backbone> [precision] [--set ...]

under ``<root>/<precision>/seed<S>/<profile>``, where the precision is ``bf16`` (``train.amp=on
train.amp_dtype=bf16``) or ``fp32`` (``train.amp=off``). ``train.eval_start`` scores the model each
run starts from (epoch 0 of ``metrics.json``), so a gain is measured against that run's own start
(a fresh neck on the generic trunk, not the generic backbone with its own neck). That model does
not depend on the seed (the neck starts at mean 0, variance 1, weight 1, bias 0), so a run made
without ``train.eval_start`` is measured against its profile's start from another run (the same
precision's first; the bf16 and float32 starts have agreed to 0.1 mAP). The table gives,
per profile and precision, the start, each seed's final target mAP and its gain, the lowest gain,
and the pseudo labels' ARI at the first and the last epoch (mean over seeds). ``--min-gain`` makes
the exit code say whether every run cleared its start by that much.

    .venv/bin/python tools/usl_results.py --seeds 0 1 2 --precisions bf16 fp32 --set runtime.threads=1
    .venv/bin/python tools/usl_results.py --collect --min-gain 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from adapt_results import finished, load_profile, run, took_before  # noqa: E402

PROFILES = ["strong_baseline_usl", "cluster_contrast_usl", "spcl_usl", "mmt_usl"]
PRECISIONS = {"bf16": ["train.amp=on", "train.amp_dtype=bf16"], "fp32": ["train.amp=off"]}


def evaluations(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.json"
    if not path.is_file():
        return []
    return [e for e in json.loads(path.read_text())["evaluations"] if e["domain"] == "target"]


def label_ari(run_dir: Path) -> tuple[float, float] | None:
    path = run_dir / "metrics.json"
    labels = json.loads(path.read_text()).get("pseudo_labels", []) if path.is_file() else []
    scored = [entry["ari"] for entry in labels if "ari" in entry]
    return (scored[0], scored[-1]) if scored else None


def generic_backbone(path: Path, collect: bool, overrides: list[str]) -> Path:
    """The USL start (the embedded stand-in for ImageNet weights), trained and exported when missing."""
    if path.is_file() or collect:
        return path
    run_dir = path.parent
    epochs = load_profile("generic_backbone", overrides).train.epochs
    if not finished(run_dir, epochs):
        args = ["train", "--profile", "generic_backbone", "--set", "eval.domains=['aux','target']"]
        run(args, run_dir.with_name(f"{run_dir.name}.log"), run_dir, overrides)
    from reidkit.adapters.models.heads import export_trunk

    return export_trunk(run_dir / "checkpoints" / "best.pt", path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--profiles", nargs="+", default=PROFILES)
    parser.add_argument("--precisions", nargs="+", choices=sorted(PRECISIONS), default=["bf16", "fp32"])
    parser.add_argument("--preset", default="demo_dense")
    parser.add_argument("--root", default="runs/usl")
    parser.add_argument("--generic", default="runs/results/generic_backbone/backbone.pt")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--collect", action="store_true", help="run nothing; tabulate the finished runs")
    parser.add_argument("--min-gain", type=float, default=None, help="exit 1 unless every run gains this much mAP")
    args = parser.parse_args()
    root = Path(args.root) / args.preset
    generic = generic_backbone(Path(args.generic), args.collect, [f"data.preset='{args.preset}'", *args.overrides])
    shared = [f"data.preset='{args.preset}'", "train.eval_start=true", "train.eval_every=4", f"model.pretrained='{generic}'"]

    rows = []
    for name in args.profiles:
        for precision in args.precisions:
            settings = [*shared, *PRECISIONS[precision], *args.overrides]
            epochs = load_profile(name, settings).train.epochs
            per_seed = {}
            for seed in args.seeds:
                run_dir = root / precision / f"seed{seed}" / name
                if not args.collect and not finished(run_dir, epochs):
                    run(["adapt", "--profile", name, "--set", f"seed={seed}"], run_dir.with_name(f"{name}.log"), run_dir, settings)
                scores = evaluations(run_dir)
                if not scores or scores[-1]["epoch"] != epochs:
                    continue
                start = scores[0]["mAP"] if scores[0]["epoch"] == 0 else None
                per_seed[seed] = {"start": start, "end": scores[-1]["mAP"], "ari": label_ari(run_dir), "took": took_before(run_dir)}
                print(f"{name:<22} {precision} seed {seed}: start {_pct(start)}  end {_pct(scores[-1]['mAP'])}", flush=True)
            if per_seed:
                rows.append((name, precision, per_seed))

    print(f"\n| {args.preset} target | precision | start | mAP per seed ({', '.join(map(str, args.seeds))}) | mAP | gain per seed | lowest gain | label ARI, first → last epoch | run time (one core) |")
    print("|---|---|---|---|---|---|---|---|---|")
    lowest_overall = float("inf")
    for name, precision, per_seed in rows:
        ends = [100 * v["end"] for v in per_seed.values()]
        starts = [v["start"] for v in per_seed.values() if v["start"] is not None]
        other = [v["start"] for n, _, runs in rows if n == name for v in runs.values() if v["start"] is not None]
        shared_start = (starts or other or [None])[0]  # the same model on every seed (above)
        starts = starts or other[:1]
        gains = [100 * (v["end"] - (v["start"] or shared_start)) for v in per_seed.values() if shared_start is not None]
        lowest_overall = min([lowest_overall, *gains])
        spread = f" ± {statistics.stdev(ends):.1f}" if len(ends) > 1 else ""
        start = ", ".join(sorted({_pct(s) for s in starts})) or "-"
        aris = [v["ari"] for v in per_seed.values() if v["ari"]]
        ari = f"{statistics.mean(a for a, _ in aris):.2f} → {statistics.mean(b for _, b in aris):.2f}" if aris else "-"
        took = [v["took"] for v in per_seed.values() if v["took"]]
        # every seed asked for keeps its place, "-" where its run has not finished
        per_seed_ends = ", ".join(f"{100 * per_seed[s]['end']:.1f}" if s in per_seed else "-" for s in args.seeds)
        gain_of = dict(zip(per_seed, gains))  # per_seed holds the finished seeds in args.seeds' order
        per_seed_gains = ", ".join(f"{gain_of[s]:+.1f}" if s in gain_of else "-" for s in args.seeds) if gains else "-"
        print(
            f"| `{name}` | {precision} | {start} | {per_seed_ends} | {statistics.mean(ends):.1f}{spread} | "
            f"{per_seed_gains} | {f'{min(gains):+.1f}' if gains else '-'} | {ari} | "
            f"{f'{statistics.mean(took):,.0f} s' if took else '-'} |"
        )
    if args.min_gain is not None and lowest_overall < args.min_gain:
        print(f"\nlowest gain {lowest_overall:+.1f} mAP is below --min-gain {args.min_gain}")
        return 1
    return 0


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


if __name__ == "__main__":
    raise SystemExit(main())

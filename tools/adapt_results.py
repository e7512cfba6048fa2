"""The README's adaptation results table: every UDA profile on the demo target, over seeds.

The USL profiles have their own table (tools/usl_results.py: demo_dense, bf16 and float32, each
run against its own scored start); they still run here when named (``--profiles spcl_usl``).

Rows per seed (each an ordinary reidkit run under --root, reused when already finished):
  untrained encoder      the strong baseline's model at initialisation, scored on the target test set
  generic backbone       `reidkit train --profile generic_backbone` (the `aux` domain; the stand-in
                         for ImageNet weights, trained once like ImageNet weights are): where USL
                         profiles start, scored on target
  direct transfer        `reidkit train --profile strong_baseline` (supervised on source; on the
                         synthetic data the embedded scale makes it the former `demo` profile),
                         scored on target
  oracle                 the same supervised recipe on the target's true labels, at the adaptation
                         profiles' volume (100 iterations per epoch, not the strong baseline's 25):
                         the upper bound, which a 4x shorter run is not
  <profile>              `reidkit adapt --profile <profile>`, given every starting model the profile
                         needs (`reidkit.entrypoints.app.starting_models`): a source model is the
                         seed's direct-transfer model (MMT's peer: seed + 1's), a trunk the generic
                         backbone's

Prints a markdown table of target mAP / rank-1 (each seed's mAP, mean ± standard deviation over
seeds, from the last evaluation of each run; for UDA rows the gain over each seed's direct transfer,
mean and lowest) and writes every number to --json. The untrained encoder's score is kept in
``<root>/seedN/untrained.json`` (delete it after changing the model). MMT's second student starts
from the direct-transfer model of seed + 1 (trained here when missing). ``--set KEY=VALUE`` goes to every
run, and to the profiles read here for their epoch counts and starting models (the README's figures
used ``runtime.threads=1 train.amp=on train.amp_dtype=bf16``, two invocations side by side on two
cores); a run's wall time is kept beside it in ``took.json`` so a later invocation that only collects
still reports it. A profile given as ``NAME+KEY=VALUE`` is a variant row with settings of its own
(see ``split_row``); a key a profile table no longer has (``loss.soft_ce_weight``, ``memory.*``,
``pseudo_labeler.self_paced``, ...) is passed under its current name (see ``current_setting``), so
such a row keeps its name and its run folder. Give ``--collect`` the ``--set`` the runs had: the
oracle's folder is named by its iterations per epoch, and an untrained score not yet kept is
measured on the data they name.

    .venv/bin/python tools/adapt_results.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

PROFILES = ["strong_baseline_uda", "uda_tp", "cluster_contrast_uda", "spcl_uda", "mmt_uda", "mmt_plus_uda"]
BASELINE = "strong_baseline"  # the supervised recipe of the direct-transfer and oracle rows
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


def run(args: list[str], log: Path, run_dir: Path, overrides: list[str]) -> float:
    earlier = logged_seconds(run_dir)  # the killed processes this call resumes, if any
    started = time.perf_counter()
    log.parent.mkdir(parents=True, exist_ok=True)
    extra = [item for value in overrides for item in ("--set", value)]
    with log.open("a") as out:  # a resumed run's log keeps the killed process's lines
        code = subprocess.call(
            [REIDKIT, *args, *extra, "--work-dir", str(run_dir)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if code != 0:
        raise SystemExit(f"reidkit {' '.join(args)} failed with exit code {code}; see {log}")
    took = earlier + time.perf_counter() - started
    (run_dir / "took.json").write_text(json.dumps({"seconds": took}))
    return took


def logged_seconds(run_dir: Path) -> float:
    """The wall time a run's processes have logged so far, summed over processes.

    Each process starts its ``log.jsonl`` segment with a ``runtime`` event; a segment counts from its
    first event to its last. A killed process's time after its last line (and each process's
    start-up before its first) is not counted, so a resumed run's total is a few seconds low,
    where the finishing process's time alone would miss every killed one.
    """
    path = run_dir / "log.jsonl"
    if not path.is_file():
        return 0.0
    total, first, last = 0.0, None, None
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
            stamp = datetime.fromisoformat(entry["timestamp"])
        except (ValueError, KeyError, TypeError):  # a line cut short by the kill
            continue
        if entry.get("event") == "runtime" and first is not None:
            total += (last - first).total_seconds()
            first = None
        first = first or stamp
        last = stamp
    return total + ((last - first).total_seconds() if first is not None else 0.0)


def took_before(run_dir: Path) -> float | None:
    path = run_dir / "took.json"
    return json.loads(path.read_text())["seconds"] if path.is_file() else None


def load_profile(name: str, overrides: list[str] | None = None):  # imported lazily so --help stays instant
    from reidkit.entrypoints.settings import load_profile as load

    return load(name, overrides or [])


def starting_models(profile) -> tuple:  # noqa: ANN001 - a Profile; imported lazily (it brings torch)
    from reidkit.entrypoints.app import starting_models as needed

    return needed(profile)


# settings the composition-root redesign moved: the MMT peer weights to the [mean_teach] table, the
# memory settings to the method's own table ([spcl] or [cluster_contrast]), and the self-paced
# criterion from the labeler to a refiner
MOVED = {
    "loss.soft_ce_weight": "mean_teach.soft_ce_weight",
    "loss.soft_triplet_weight": "mean_teach.soft_triplet_weight",
    "pseudo_labeler.eps_gap": "refine.eps_gap",
}


def current_setting(setting: str, method: str) -> str:
    """``KEY=VALUE`` with ``KEY`` under its current name (``method``'s table for ``memory.*``)."""
    key, sep, value = setting.partition("=")
    if key == "pseudo_labeler.self_paced":
        return "refine.kind='self_paced'" if value.strip().lower() == "true" else "refine.kind='none'"
    if key.startswith("memory."):
        return f"{method}.{key.removeprefix('memory.')}{sep}{value}"
    return f"{MOVED.get(key, key)}{sep}{value}"


def split_row(row: str) -> tuple[str, list[str]]:
    """``NAME`` or ``NAME+KEY=VALUE[+KEY=VALUE...]``: a profile, or a variant of it with settings of
    its own (e.g. ``strong_baseline_uda+adapt.source_domain=''``, the baseline on the target alone),
    each under its current name (``current_setting``)."""
    name, *settings = row.split("+")
    if any(current_setting(setting, "") != setting for setting in settings):
        method = load_profile(name).method
        settings = [current_setting(setting, method) for setting in settings]
        # a strategy's kind first: setting it starts its table afresh
        settings.sort(key=lambda setting: not setting.startswith("refine.kind="))
    return name, settings


def run_folder(row: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", row).strip("_")


def untrained(seed: int, cache: Path, overrides: list[str]) -> dict:
    """The strong baseline's model at initialisation, scored once per seed and kept in ``cache``
    (scoring it takes about as long as a short run on one core, and --collect would repeat it every
    time)."""
    if cache.is_file():
        return json.loads(cache.read_text())
    from reidkit.entrypoints.app import build_app

    profile = load_profile(BASELINE, [f"seed={seed}", "eval.domains=['target']", *overrides])
    with build_app(profile, work_dir="/tmp/reidkit-untrained") as app:
        metrics = app.container.evaluations()["target"].run()
    entry = {"mAP": metrics.mAP, "cmc": list(metrics.cmc)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(entry))
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--profiles", nargs="+", default=PROFILES)
    parser.add_argument("--root", default="runs/results")
    parser.add_argument("--json", default="runs/results/results.json")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--collect", action="store_true", help="run nothing; tabulate the finished runs")
    parser.add_argument("--no-oracle", action="store_true")
    args = parser.parse_args()
    root = Path(args.root)
    results: dict[str, dict[int, dict]] = {}
    seconds: dict[str, list[float]] = {}

    def record(row: str, seed: int, run_dir: Path | None, entry: dict | None = None) -> None:
        entry = entry if entry is not None else last_target(run_dir)
        if entry is None:
            if args.collect:
                return
            raise SystemExit(f"{row} (seed {seed}) has no target evaluation")
        results.setdefault(row, {})[seed] = {
            "mAP": entry["mAP"],
            "rank1": entry["cmc"][0],
        }
        took = took_before(run_dir) if run_dir is not None else None
        if took is not None:
            seconds.setdefault(row, []).append(took)
        print(
            f"seed {seed} {row:<22} mAP {100 * entry['mAP']:6.2f}  R1 {100 * entry['cmc'][0]:6.2f}",
            flush=True,
        )

    def ensure(command: list[str], run_dir: Path, epochs: int) -> None:
        if not args.collect and not finished(run_dir, epochs):
            run(
                command,
                run_dir.with_name(f"{run_dir.name}.log"),
                run_dir,
                args.overrides,
            )

    variants = {row: split_row(row) for row in args.profiles}
    # as the runs will resolve them (the same --set), for their epoch counts and starting models
    profiles = {row: load_profile(name, [*settings, *args.overrides]) for row, (name, settings) in variants.items()}
    starts = {row: starting_models(profile) for row, profile in profiles.items()}
    baseline_epochs = load_profile(BASELINE, args.overrides).train.epochs
    oracle_iters = load_profile("strong_baseline_uda", args.overrides).train.iters_per_epoch  # the adaptation profiles' volume
    generic = root / "generic_backbone"
    generic_epochs = load_profile("generic_backbone", args.overrides).train.epochs
    needs_generic = not args.collect and any(start.trunk for needed in starts.values() for start in needed)

    @functools.cache
    def generic_backbone() -> Path:
        ensure(["train", "--profile", "generic_backbone", "--set", "eval.domains=['aux','target']"], generic, generic_epochs)
        from reidkit.adapters.models.heads import export_trunk

        return export_trunk(generic / "checkpoints" / "best.pt", generic / "backbone.pt")

    def direct_transfer(seed: int) -> Path:
        run_dir = root / f"seed{seed}" / "direct_transfer"
        ensure(["train", "--profile", BASELINE, "--set", f"seed={seed}"], run_dir, baseline_epochs)
        return run_dir

    for seed in args.seeds:
        base = root / f"seed{seed}"
        record("untrained encoder", seed, None, untrained(seed, base / "untrained.json", args.overrides))
        if seed == args.seeds[0] and (needs_generic or finished(generic, generic_epochs)):
            record("generic backbone", seed, generic_backbone().parent)  # one run, shared by every seed
        pretrain = direct_transfer(seed)
        record("direct transfer", seed, pretrain)
        for row, profile in profiles.items():
            name, settings = variants[row]
            start = [item for setting in settings for item in ("--set", setting)]
            for needed in starts[row]:
                if needed.trunk:  # model.pretrained: USL starts where the papers start from ImageNet
                    if not args.collect:
                        start += ["--set", f"{needed.setting}='{generic_backbone()}'"]
                else:  # adapt.source_model, mean_teach.peer_source_model (seed + 1)
                    model = direct_transfer(seed + needed.seed_offset) / "checkpoints" / "best.pt"
                    start += ["--set", f"{needed.setting}='{model}'"]
            run_dir = base / run_folder(row)
            ensure(["adapt", "--profile", name, "--set", f"seed={seed}", *start], run_dir, profile.train.epochs)
            record(row, seed, run_dir)
        if not args.no_oracle:
            oracle = base / f"oracle-{oracle_iters}-iters"  # not a 25-iteration run of an older table
            target_only = ["--set", "train.domain='target'", "--set", "eval.domains=['target']"]
            volume = ["--set", f"train.iters_per_epoch={oracle_iters}"]
            ensure(["train", "--profile", BASELINE, "--set", f"seed={seed}", *target_only, *volume], oracle, baseline_epochs)
            record("oracle (target labels)", seed, oracle)

    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"results": results, "seconds": seconds}, indent=2))
    start = results.get("direct transfer", {})
    print("\n| demo target | seeds | mAP per seed | mAP | rank-1 | over direct transfer (lowest seed) | run time |")
    print("|---|---|---|---|---|---|---|")
    for row, per_seed in results.items():
        cells = []
        for key in ("mAP", "rank1"):
            values = [100 * v[key] for v in per_seed.values()]
            spread = f" ± {statistics.stdev(values):.1f}" if len(values) > 1 else ""
            cells.append(f"{statistics.mean(values):.1f}{spread}")
        each = ", ".join(f"{100 * per_seed[seed]['mAP']:.1f}" for seed in sorted(per_seed))
        gains = [100 * (v["mAP"] - start[seed]["mAP"]) for seed, v in per_seed.items() if seed in start]
        from_source = row in profiles and profiles[row].adapt.start_from == "source_model"
        gain = f"{statistics.mean(gains):+.1f} ({min(gains):+.1f})" if from_source and gains else "-"
        took = f"{statistics.mean(seconds[row]):.0f} s" if row in seconds else "-"
        print(f"| {row} | {len(per_seed)} | {each} | {cells[0]} | {cells[1]} | {gain} | {took} |")


if __name__ == "__main__":
    main()

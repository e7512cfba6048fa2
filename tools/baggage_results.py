"""Issue 21's baggage table: the untrained encoder, ``mvb_supervised`` and ``mvb_mask`` with and
without mask-weighted pooling (the mask read detached, or trained by the re-ID loss through the
pooling), over seeds, each scored twice on the same test images: under reidkit's protocol (every
probe against the whole gallery) and under the OpenUnReID fork's view filter
(``data.sets.mvb.view_as_camera``: gallery images sharing the probe's view index are dropped, and
a probe left without a true match is not scored).

    .venv/bin/python tools/baggage_results.py --seeds 0 1 2 --set runtime.threads=1 \\
        --set train.amp=on --set train.amp_dtype=bf16
    .venv/bin/python tools/baggage_results.py --collect      # run nothing: tabulate what is there

Missing runs are trained with ``reidkit train`` (``<root>/seedN/<row>``, log beside it); each
run's final model (its last epoch, the one its log reports) is scored once and kept in
``<run>/protocols.json``, the untrained encoder's scores in ``<root>/seedN/untrained.json``.
Prints one line per run and a Markdown table of mean ± standard deviation over the seeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from attrs import frozen

from reidkit.entrypoints.settings import Profile, load_profile


@frozen
class Row:
    label: str
    profile: str
    settings: tuple[str, ...]
    folder: str  # under <root>/seedN/; "" = the untrained encoder, not a run


ROWS = (
    Row("untrained encoder", "mvb_supervised", (), ""),
    Row("`mvb_supervised`", "mvb_supervised", (), "mvb_supervised"),
    Row("`mvb_mask`", "mvb_mask", (), "mvb_mask"),
    Row("`mvb_mask` + `model.mask_attention=true`", "mvb_mask", ("model.mask_attention=true",), "mvb_mask_attention"),
    Row(
        "`mvb_mask` + attention that trains the mask (`model.mask_attention_trains_mask=true`)",
        "mvb_mask",
        ("model.mask_attention=true", "model.mask_attention_trains_mask=true"),
        "mvb_mask_attention_trains_mask",
    ),
)
PROTOCOLS = ("whole gallery", "view filter")
METRICS = ("mAP", "R1", "R5", "R10", "mINP")
DOMAIN = "mvb"


def view_filter(profile: Profile) -> list[str]:
    """Settings that read the profile's embedded bags through the mvb reader with the fork's
    view-as-camera rule (the synthetic data itself has no such option: it is the reader's)."""
    from reidkit.adapters.data.synth_baggage import ensure_synthetic_baggage
    from reidkit.entrypoints.parts.data import default_data_dir

    data = profile.data
    if data.kind != "synthetic":
        raise SystemExit(f"baggage_results: the view filter is added to the embedded data; {data.kind} data sets it itself (data.sets.mvb.view_as_camera)")
    root = ensure_synthetic_baggage(data.preset, data.seed, Path(data.cache_dir) if data.cache_dir else default_data_dir())
    return [
        "data.kind='datasets'",
        f"data.sets.{DOMAIN}.reader='mvb'",
        f"data.sets.{DOMAIN}.root='{root}'",
        f"data.sets.{DOMAIN}.view_as_camera=true",
    ]


def scores(metrics: object) -> dict[str, float]:
    cmc = metrics.cmc  # type: ignore[attr-defined]
    return {
        "mAP": metrics.mAP,  # type: ignore[attr-defined]
        "R1": cmc[0],
        "R5": cmc[4],
        "R10": cmc[9],
        "mINP": metrics.mINP,  # type: ignore[attr-defined]
        "queries": metrics.num_valid_queries,  # type: ignore[attr-defined]
        "of": metrics.num_queries,  # type: ignore[attr-defined]
    }


def untrained_scores(name: str, settings: Sequence[str], cache: Path) -> dict[str, dict[str, float]]:
    """Profile ``name``'s network at initialisation under both protocols, kept in ``cache``."""
    if cache.is_file():
        return json.loads(cache.read_text())
    from reidkit.entrypoints.app import build_app

    found = {}
    for protocol, extra in zip(PROTOCOLS, ([], view_filter(load_profile(name, settings))), strict=True):
        with build_app(load_profile(name, [*settings, *extra]), work_dir="/tmp/reidkit-untrained-baggage") as app:
            found[protocol] = scores(app.container.evaluations()[DOMAIN].run())
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(found, indent=2))
    return found


def run_scores(run_dir: Path) -> dict[str, dict[str, float]]:
    """The run's final model under both protocols, kept in ``<run>/protocols.json``."""
    kept = run_dir / "protocols.json"
    if kept.is_file():
        return json.loads(kept.read_text())
    from reidkit.application.evaluate import evaluations
    from reidkit.entrypoints.trained import open_run, run_domains, run_evaluator, trained_extractor

    final = open_run(run_dir, "latest")
    extractor = trained_extractor(final, device="cpu", normalize=False)
    found = {}
    for protocol, extra in zip(PROTOCOLS, ([], view_filter(final.profile)), strict=True):
        run = open_run(run_dir, "latest", extra)
        found[protocol] = scores(evaluations(extractor, run_evaluator(run), run_domains(run), [DOMAIN])[DOMAIN].run())
    kept.write_text(json.dumps(found, indent=2))
    return found


def finished(run_dir: Path, epochs: int) -> bool:
    metrics = run_dir / "metrics.json"
    if not metrics.is_file():
        return False
    done = [entry["epoch"] for entry in json.loads(metrics.read_text())["evaluations"]]
    return bool(done) and max(done) >= epochs


def train(row: Row, seed: int, run_dir: Path, overrides: Sequence[str]) -> None:
    command = [str(Path(sys.executable).with_name("reidkit")), "train", "--profile", row.profile, "--set", f"seed={seed}", "--quiet", "--work-dir", str(run_dir)]
    for setting in (*row.settings, *overrides):
        command += ["--set", setting]
    print("running:", " ".join(command), flush=True)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with run_dir.with_name(f"{run_dir.name}.log").open("a") as log:
        if subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False).returncode:
            raise SystemExit(f"baggage_results: {' '.join(command)} failed; see {log.name}")


def table(results: Mapping[str, Mapping[int, Mapping[str, Mapping[str, float]]]]) -> str:
    def cell(values: list[float]) -> str:
        spread = f" ± {statistics.stdev(values):.1f}" if len(values) > 1 else ""
        return f"{statistics.mean(values):.1f}{spread}"

    lines = [
        "| `baggage` test | seeds | mAP per seed | " + " | ".join(METRICS) + " | view filter: mAP | R1 | queries scored |",
        "|---|---|---|" + "---|" * len(METRICS) + "---|---|---|",
    ]
    for label, per_seed in results.items():
        seeds = sorted(per_seed)
        whole = [per_seed[s][PROTOCOLS[0]] for s in seeds]
        filtered = [per_seed[s][PROTOCOLS[1]] for s in seeds]
        each = ", ".join(f"{100 * w['mAP']:.1f}" for w in whole)
        ours = " | ".join(cell([100 * w[m] for w in whole]) for m in METRICS)
        scored = ", ".join(sorted({f"{int(f['queries'])} of {int(f['of'])}" for f in filtered}))
        theirs = f"{cell([100 * f['mAP'] for f in filtered])} | {cell([100 * f['R1'] for f in filtered])} | {scored}"
        lines.append(f"| {label} | {len(seeds)} | {each} | {ours} | {theirs} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--root", default="runs/mvb")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--collect", action="store_true", help="run nothing; tabulate the finished runs")
    parser.add_argument("--json", default=None, help="default: <root>/results.json")
    args = parser.parse_args()
    root = Path(args.root)
    results: dict[str, dict[int, dict]] = {}
    for seed in args.seeds:
        for row in ROWS:
            settings = [f"seed={seed}", *row.settings, *args.overrides]
            profile = load_profile(row.profile, settings)
            if not row.folder:
                cache = root / f"seed{seed}" / "untrained.json"
                found = untrained_scores(row.profile, settings, cache) if cache.is_file() or not args.collect else None
            else:
                run_dir = root / f"seed{seed}" / row.folder
                if not finished(run_dir, profile.train.epochs):
                    if args.collect:
                        continue
                    train(row, seed, run_dir, args.overrides)
                found = run_scores(run_dir)
            if found is None:
                continue
            results.setdefault(row.label, {})[seed] = found
            whole, filtered = found[PROTOCOLS[0]], found[PROTOCOLS[1]]
            print(
                f"seed {seed} {row.label:<44} mAP {100 * whole['mAP']:5.1f}  R1 {100 * whole['R1']:5.1f}  "
                f"view filter mAP {100 * filtered['mAP']:5.1f} ({int(filtered['queries'])} of {int(filtered['of'])} probes)",
                flush=True,
            )
    out = Path(args.json) if args.json else root / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print()
    print(table(results))


if __name__ == "__main__":
    main()

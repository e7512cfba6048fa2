"""Behaviour fingerprints of every shipped profile: a structural change must not move a number.

Each profile runs through the `reidkit` command line on the tiny preset for two short epochs (CPU,
one thread, seed 0, fixed starting models), in a fresh interpreter, and its run folder is reduced
to what it measured: every evaluation of `metrics.json` (mAP, mINP, CMC), every epoch's
pseudo-label statistics, and the losses of every logged step in `log.jsonl`. The whole set is
one JSON file; `--compare` reports every value that differs from a committed one.

Adaptation profiles start from fixed random models written here (a whole model for UDA and for
MMT's peer, its trunk for USL) rather than from a pre-training run, so a fingerprint measures the
profile's own training and nothing upstream of it.

    .venv/bin/python tools/profile_fingerprints.py --out tools/profile_fingerprints.json
    .venv/bin/python tools/profile_fingerprints.py --compare tools/profile_fingerprints.json
    .venv/bin/python tools/profile_fingerprints.py --profiles spcl_uda,uda_tp --compare tools/profile_fingerprints.json

Exit code 0 when every compared value is identical, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

# What every run shares: the tiny preset at the sizes the end-to-end tests use, one thread (the
# figures depend on the reduction order), evaluation after each epoch.
TINY = (
    "data.preset='tiny'", "input.height=64", "input.width=32", "train.ids_per_batch=4",
    "train.instances_per_id=2", "train.iters_per_epoch=2", "train.epochs=2", "train.eval_every=1",
    "eval.batch_size=64", "runtime.threads=1", "seed=0", "train.log_every=1",
)  # fmt: skip

# Per profile: the subcommand and what it needs beyond TINY. The supervised profiles score the
# source (the tiny preset has no `aux` domain for the generic backbone).
SUPERVISED = ("train", "train.domain='source'", "eval.domains=['source', 'target']")
# video profiles run on the tiny video preset (one domain, short tracklets)
VIDEO_PRESET = "tiny_video"
# baggage profiles run on the tiny baggage preset (bags with boxes, one domain 'mvb')
BAGGAGE_PRESETS = ("baggage", "tiny_baggage")


def profile_names() -> list[str]:
    from reidkit.entrypoints.settings import available_profiles

    return available_profiles()


def command_for(name: str, models: dict[str, Path]) -> list[str]:
    """``reidkit`` arguments (without --work-dir) for one profile."""
    from reidkit.entrypoints.settings import load_profile

    profile = load_profile(name)
    if profile.method == "translate":
        # SPGAN's metric network needs both sides >= 64; the rendering is fingerprinted too
        subcommand, extra = "translate", ["input.height=64", "input.width=64", "translate.batch_size=2"]
    elif profile.method == "supervised":
        subcommand, *extra = SUPERVISED
    else:
        # Random starting models cluster the 64 tiny target images into a handful of groups: two
        # identities a batch (of four images each) keep every profile training.
        subcommand = "adapt"
        extra = ["train.domain='target'", "eval.domains=['target']", "train.ids_per_batch=2", "train.instances_per_id=4"]
        if profile.pseudo_labeler.kind == "kmeans":
            extra.append("pseudo_labeler.num_clusters=8")
        start = profile.adapt.start_from
        if start == "source_model":
            extra.append(f"adapt.source_model='{models['source']}'")
        elif start == "pretrained":
            extra.append(f"model.pretrained='{models['trunk']}'")
        if getattr(getattr(profile, "correct", None), "kind", "none") == "glc":
            # on random features GLC's network trusts no link: every scored pair of a 3-neighbour
            # graph is kept, and the shared-neighbour filter makes the components
            extra += ["correct.k=4", "correct.link_threshold=0.0", "correct.shared_threshold=0.0"]
        if peer_start(profile) == "second_pretraining":
            extra.append(f"mean_teach.peer_source_model='{models['peer']}'")
    settings = [*TINY, *extra]
    if getattr(profile.data, "preset", "") in BAGGAGE_PRESETS:
        # a baggage profile keeps its bags (their boxes train the mask head): the tiny baggage preset
        settings = [s for s in settings if not s.startswith(("data.preset", "eval.domains", "train.domain", "input."))]
        settings += ["data.preset='tiny_baggage'", "train.domain='mvb'", "eval.domains=['mvb']", "input.height=64", "input.width=64"]
    if getattr(profile.data, "preset", "") == VIDEO_PRESET:
        # a video profile keeps its tracklets: the tiny image preset would train it on images
        settings = [s for s in settings if not s.startswith(("data.preset", "eval.domains"))]
        settings += [f"data.preset='{VIDEO_PRESET}'", "eval.domains=['source']"]
    return [subcommand, "--profile", name, *[arg for item in settings for arg in ("--set", item)]]


def peer_start(profile: Any) -> str:
    """MMT's ``mean_teach.peer_start``, in the profile schema before the redesign (a section of its
    own) and after it (the method's own table)."""
    legacy = getattr(profile, "mean_teach", None)
    return legacy.peer_start if legacy is not None else dict(profile.method_options).get("peer_start", "")


def starting_models(folder: Path) -> dict[str, Path]:
    """Fixed random ResNet-18 starting models (last stride 2, as the scaled profiles build them)."""
    import torch

    from reidkit.adapters.models.backbone import build_reid_model
    from reidkit.adapters.runtime.checkpoint import export_model

    paths = {name: folder / f"{name}.pt" for name in ("source", "peer", "trunk")}
    for name, seed in (("source", 0), ("peer", 1)):
        torch.manual_seed(seed)
        model = build_reid_model("resnet18", num_classes=8, last_stride=2)
        export_model(paths[name], model)
        if name == "source":
            export_model(paths["trunk"], model.trunk)
    return paths


def run_profile(name: str, argv: Sequence[str], work: Path, data_dir: Path) -> dict[str, Any]:
    run_dir = work / name
    env = {**os.environ, "REIDKIT_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    command = [sys.executable, "-m", "reidkit.entrypoints.cli", *argv, "--work-dir", str(run_dir)]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-3000:]
        print(f"{name}: exit {result.returncode}\n{tail}", file=sys.stderr)
        return {"error": f"exit {result.returncode}", "seconds": round(seconds, 1)}
    print(f"{name}: {seconds:.0f} s", file=sys.stderr)
    return {**fingerprint(run_dir), "seconds": round(seconds, 1)}


def fingerprint(run_dir: Path) -> dict[str, Any]:
    """What a run measured: evaluations, pseudo-label statistics and the logged losses; a
    translation (which evaluates nothing) also the digest of every image it rendered."""
    metrics_file = run_dir / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    steps = []
    for line in (run_dir / "log.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "step":
            steps.append({k: v for k, v in event.items() if k not in ("timestamp", "level", "logger", "event")})
    return {
        "evaluations": metrics.get("evaluations", []),
        "pseudo_labels": metrics.get("pseudo_labels", []),
        "steps": steps,
        **({"rendered": rendered_digest(run_dir / "translated")} if (run_dir / "translated").is_dir() else {}),
    }


def rendered_digest(folder: Path) -> str:
    """SHA-256 over the names and bytes of every image a translation rendered (not the manifest,
    which names the originals by absolute path)."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json"):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def differences(before: Any, after: Any, path: str = "") -> list[str]:
    """Every leaf that differs (floats exactly: a structural change moves no bit)."""
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in sorted(before.keys() | after.keys()):
            if key == "seconds":
                continue
            where = f"{path}.{key}" if path else key
            if key not in after:
                found.append(f"{where}: missing after (was {before[key]!r})")
            elif key not in before:
                found.append(f"{where}: new (is {after[key]!r})")
            else:
                found += differences(before[key], after[key], where)
        return found
    if isinstance(before, list) and isinstance(after, list):
        if len(before) != len(after):
            return [f"{path}: {len(before)} entries before, {len(after)} after"]
        return [d for i, (b, a) in enumerate(zip(before, after)) for d in differences(b, a, f"{path}[{i}]")]
    same = before == after or (isinstance(before, float) and isinstance(after, float) and math.isnan(before) and math.isnan(after))
    return [] if same else [f"{path}: {before!r} -> {after!r}"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", help="comma-separated profile names (default: every shipped profile)")
    parser.add_argument("--out", type=Path, help="write the fingerprints here")
    parser.add_argument("--compare", type=Path, help="compare with these fingerprints; exit 1 on any difference")
    parser.add_argument(
        "--renamed", action="append", default=[], metavar="NEW=OLD",
        help="compare profile NEW with the committed fingerprint of OLD (a profile that was renamed)",
    )  # fmt: skip
    parser.add_argument("--jobs", type=int, default=2, help="profiles run side by side (default 2: one per core)")
    parser.add_argument("--keep", type=Path, help="keep the run folders here (default: a temporary folder)")
    parser.add_argument("--data-dir", type=Path, help="synthetic data cache (default: a temporary folder)")
    args = parser.parse_args(argv)

    names = args.profiles.split(",") if args.profiles else profile_names()
    with tempfile.TemporaryDirectory(prefix="fingerprints-") as scratch:
        work = args.keep or Path(scratch) / "runs"
        work.mkdir(parents=True, exist_ok=True)
        data_dir = args.data_dir or Path(scratch) / "data"
        models_dir = Path(scratch) / "models"
        models_dir.mkdir()
        models = starting_models(models_dir)
        from reidkit.adapters.data.synth import ensure_synthetic

        ensure_synthetic("tiny", 0, data_dir)
        commands = {name: command_for(name, models) for name in names}
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            runs = dict(zip(names, pool.map(lambda n: run_profile(n, commands[n], work, data_dir), names)))

    result = {"profiles": runs}
    if args.out:
        args.out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)
    failed = [name for name, run in runs.items() if "error" in run]
    if args.compare:
        reference = json.loads(args.compare.read_text())["profiles"]
        renamed = dict(item.split("=", 1) for item in args.renamed)
        found = []
        for name in names:
            old = renamed.get(name, name)
            if old not in reference:
                found.append(f"{name}: no committed fingerprint")
                continue
            found += [f"{name}.{d}" for d in differences(reference[old], runs[name])]
        print("\n".join(found) if found else f"identical: {', '.join(names)}")
        return 1 if found or failed else 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Issue 20's translation table, from finished runs: target mAP and rank-1 over seeds of the strong
baseline on the real source (direct transfer), on CycleGAN's, SPGAN's and the ideal translation
of it, on the real source and a translation together (against the real source alone for as many
steps), and of ``strong_baseline_uda`` against ``spgan_strong_baseline_uda``; beside each
translation, how well a classifier still tells it from the real target (translation_quality.py's
second judge; 0.5 = not at all) and what the seed's source model scores on its rendering of the
source test set (identity kept).

    .venv/bin/python tools/translation_results.py --seeds 0 1 2

A row's missing runs are listed with the command that makes them (same flags for every run:
``--set seed=S --set runtime.threads=1 --set train.amp=on --set train.amp_dtype=bf16``); nothing
is trained here. The source model's score on a rendering is computed once and kept beside it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tomllib
from pathlib import Path

from attrs import frozen

FLAGS = "--set seed={seed} --set runtime.threads=1 --set train.amp=on --set train.amp_dtype=bf16 --quiet"


@frozen
class Row:
    label: str
    run: str  # the run folder, {seed} filled in
    command: str  # what makes it
    rendering: str = ""  # the translated source it trained on, for the judge and identity columns


ROWS = (
    Row("direct transfer (strong baseline on the real source)", "runs/results/seed{seed}/direct_transfer",
        "tools/adapt_results.py --seeds {seed} --profiles strong_baseline_uda --no-oracle (same flags)"),
    Row("strong baseline on CycleGAN's translation", "runs/translate/seed{seed}/cyclegan_supervised",
        "reidkit train --profile spgan_supervised --set translated.profile=cyclegan " + FLAGS + " --work-dir {run}",
        "runs/translate/seed{seed}/cyclegan_supervised/translation/translated"),
    Row("strong baseline on SPGAN's translation (`spgan_supervised`)", "runs/translate/seed{seed}/spgan_supervised",
        "reidkit train --profile spgan_supervised " + FLAGS + " --work-dir {run}",
        "runs/translate/seed{seed}/spgan_supervised/translation/translated"),
    Row("SPGAN with a generator step every iteration (`translate.generator_every=1`)",
        "runs/translate/seed{seed}/spgan_every_step_supervised",
        "reidkit translate --profile spgan --set translate.generator_every=1 " + FLAGS + " --work-dir "
        "runs/translate/seed{seed}/spgan_every_step, then reidkit train --profile spgan_supervised --set "
        "translated.root=runs/translate/seed{seed}/spgan_every_step/translated " + FLAGS + " --work-dir {run}",
        "runs/translate/seed{seed}/spgan_every_step/translated"),
    Row("CycleGAN trained twice as long (20 epochs)", "runs/translate/seed{seed}/cyclegan_20ep_supervised",
        "reidkit translate --profile cyclegan --set train.epochs=20 " + FLAGS + " --work-dir "
        "runs/translate/seed{seed}/cyclegan_20ep, then reidkit train --profile spgan_supervised --set "
        "translated.root=runs/translate/seed{seed}/cyclegan_20ep/translated " + FLAGS + " --work-dir {run}",
        "runs/translate/seed{seed}/cyclegan_20ep/translated"),
    Row("strong baseline on the real source alone for as many steps (20 epochs: the control for the next two rows)",
        "runs/translate/seed{seed}/direct_transfer_20ep",
        "reidkit train --profile strong_baseline --set train.epochs=20 " + FLAGS + " --work-dir {run}"),
    Row("strong baseline on the real source and CycleGAN's translation together (`translated.keep_original`)",
        "runs/translate/seed{seed}/cyclegan_with_original_supervised",
        "reidkit train --profile spgan_supervised --set translated.root=runs/translate/seed{seed}/cyclegan_supervised/"
        "translation/translated --set translated.keep_original=true " + FLAGS + " --work-dir {run}",
        "runs/translate/seed{seed}/cyclegan_supervised/translation/translated"),
    Row("strong baseline on the real source and SPGAN's translation together (`translated.keep_original`)",
        "runs/translate/seed{seed}/spgan_with_original_supervised",
        "reidkit train --profile spgan_supervised --set translated.root=runs/translate/seed{seed}/spgan_supervised/"
        "translation/translated --set translated.keep_original=true " + FLAGS + " --work-dir {run}",
        "runs/translate/seed{seed}/spgan_supervised/translation/translated"),
    Row("strong baseline on the ideal translation (the source drawn by the target's cameras)",
        "runs/translate/seed{seed}/ideal_supervised",
        "tools/ideal_translation.py --out runs/translate/ideal, then reidkit train --profile spgan_supervised "
        "--set translated.root=runs/translate/ideal/source " + FLAGS + " --work-dir {run}",
        "runs/translate/ideal/source"),
    Row("`strong_baseline_uda` (real source)", "runs/results/seed{seed}/strong_baseline_uda",
        "tools/adapt_results.py --seeds {seed} --profiles strong_baseline_uda --no-oracle (same flags)"),
    Row("`spgan_strong_baseline_uda` (SPGAN's translation, then pseudo labels)",
        "runs/translate/seed{seed}/spgan_strong_baseline_uda",
        "reidkit adapt --profile spgan_strong_baseline_uda --set "
        "translated.root=runs/translate/seed{seed}/spgan_supervised/translation/translated " + FLAGS + " --work-dir {run}"),
)  # fmt: skip


def final_target(run: Path) -> dict | None:
    """The run's evaluation of the target at its last epoch, or None while it has not reached it."""
    metrics, profile = run / "metrics.json", run / "profile.toml"
    if not (metrics.is_file() and profile.is_file()):
        return None
    epochs = tomllib.loads(profile.read_text())["train"]["epochs"]
    target = [e for e in json.loads(metrics.read_text())["evaluations"] if e["domain"] == "target"]
    return target[-1] if target and target[-1]["epoch"] == epochs else None


def second_judge(rendering: Path) -> float | None:
    quality = rendering.parent / "translation_quality.json"
    if not quality.is_file():
        return None
    return json.loads(quality.read_text()).get("translated_vs_target_accuracy")


def identity_kept(rendering: Path, seed: int) -> float | None:
    """The seed's source model (direct transfer) on the rendering's query and gallery."""
    kept = rendering.parent / f"source_model_seed{seed}.json"
    if kept.is_file():
        return json.loads(kept.read_text())["mAP"]
    source_model = Path(f"runs/results/seed{seed}/direct_transfer")
    if not (source_model / "checkpoints" / "best.pt").is_file():
        return None
    from reidkit.application.evaluate import evaluations
    from reidkit.entrypoints.trained import open_run, run_domains, run_evaluator, trained_extractor

    run = open_run(source_model, "best", ["translated.domain='source'", f"translated.root='{rendering}'", "runtime.threads=1"])
    extractor = trained_extractor(run, device="cpu", normalize=False)
    metrics = evaluations(extractor, run_evaluator(run), run_domains(run), ["source"])["source"].run()
    kept.write_text(json.dumps({"mAP": metrics.mAP, "source_model": str(source_model)}))
    return metrics.mAP


def cell(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    if not values:
        return "–"
    mean = statistics.mean(scale * v for v in values)
    spread = f" ± {statistics.stdev(scale * v for v in values):.{digits}f}" if len(values) > 1 else ""
    return f"{mean:.{digits}f}{spread}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    print("| demo target | seeds | mAP per seed | mAP | rank-1 | translation told from the target (0.5: not at all) | source model on the rendered source test (mAP per seed) |")
    print("|---|---|---|---|---|---|---|")
    missing: list[str] = []
    for row in ROWS:
        found: dict[int, dict] = {}
        judges: dict[Path, float] = {}  # by rendering: the ideal one is shared by every seed
        identity: list[str] = []
        for seed in args.seeds:
            run = Path(row.run.format(seed=seed))
            entry = final_target(run)
            if entry is None:
                missing.append(f"{row.label}, seed {seed}: " + row.command.format(seed=seed, run=run))
                continue
            found[seed] = entry
            if row.rendering:
                rendering = Path(row.rendering.format(seed=seed))
                if (value := second_judge(rendering)) is not None:
                    judges[rendering] = value
                if (kept := identity_kept(rendering, seed)) is not None:
                    identity.append(f"{100 * kept:.1f}")
        if not found:
            continue
        seeds = sorted(found)
        each = ", ".join(f"{100 * found[s]['mAP']:.1f}" for s in seeds)
        judge_cell = cell(list(judges.values()), scale=1.0, digits=3)
        print(
            f"| {row.label} | {len(seeds)} | {each} | {cell([found[s]['mAP'] for s in seeds])} | "
            f"{cell([found[s]['cmc'][0] for s in seeds])} | {judge_cell} | {', '.join(identity) or '–'} |"
        )
    if missing:
        print("\nnot yet run:")
        print("\n".join(f"- {line}" for line in missing))


if __name__ == "__main__":
    main()

"""Label quality before and after each correction of finished runs (GLC's ``[correct]``), from the
``pseudo_labels`` entries of their ``metrics.json``: at a correction epoch the entry holds the
corrected labels' scores and the uncorrected ones' under ``uncorrected_``.

    .venv/bin/python tools/correction_quality.py runs/results/seed*/glc_cluster_contrast_uda

Prints a markdown table: run, epoch, then clusters / outliers / pairwise precision / recall / ARI
before -> after. A run that stopped at a correction (its labels could not fill a batch) shows the
labels of that correction all the same: they are written before the batches are built.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

KEYS = ("clusters", "outliers", "precision", "recall", "ari")


def corrections(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.json"
    if not path.is_file():
        return []
    entries = json.loads(path.read_text()).get("pseudo_labels", [])
    return [e for e in entries if "uncorrected_clusters" in e]


def cell(before: float, after: float, key: str) -> str:
    if key in ("clusters", "outliers"):
        return f"{int(before)} → {int(after)}"
    return f"{before:.3f} → {after:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args()
    print("| run | epoch | " + " | ".join(KEYS) + " |")
    print("|---|---|" + "---|" * len(KEYS))
    for run_dir in args.runs:
        for entry in corrections(run_dir):
            cells = [cell(entry[f"uncorrected_{k}"], entry[k], k) for k in KEYS if f"uncorrected_{k}" in entry]
            print(f"| {run_dir.parent.name}/{run_dir.name} | {entry['epoch']} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

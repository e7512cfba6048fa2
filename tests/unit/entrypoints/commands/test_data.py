"""``reidkit data stats``: the table of identities, images and cameras per split."""

from __future__ import annotations

import json

from reidkit.adapters.data.market import read_market
from reidkit.entrypoints.cli import main


def test_stats_prints_and_writes_each_domains_table(tiny_data, tmp_path, capsys):
    out = tmp_path / "stats.json"
    settings = ["--set", "data.preset='tiny'", "--set", f"data.cache_dir='{tiny_data}'"]
    assert main(["data", "stats", *settings, "--data", "target", "--json", str(out)]) == 0
    target = read_market(next(tiny_data.glob("tiny-seed0")) / "target", domain="target")
    expected = {split: {"ids": i, "images": n, "cameras": c} for split, i, n, c in target.split_statistics()}
    assert json.loads(out.read_text()) == {"target": expected}
    printed = capsys.readouterr().out
    assert printed.startswith("target:\n")
    assert f"  train    | {expected['train']['ids']:>7} | {expected['train']['images']:>9} | {expected['train']['cameras']:>9}" in printed


def test_an_unknown_domain_is_one_line(tiny_data, capsys):
    assert main(["data", "stats", "--set", "data.preset='tiny'", "--set", f"data.cache_dir='{tiny_data}'", "--data", "x"]) == 2
    assert capsys.readouterr().err.strip().endswith("no domain named 'x'; the data has ['source', 'target']")

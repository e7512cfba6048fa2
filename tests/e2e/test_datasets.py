"""Real-data layouts through the command line: ``[data] kind = "datasets"`` trains and evaluates
with a reader per domain, and ``reidkit data stats`` prints their tables."""

from __future__ import annotations

import json

import pytest

from reidkit.entrypoints.cli import main
from tests.support.tiny import as_sets, tiny_overrides

pytestmark = pytest.mark.slow


def _sets(tiny_data) -> list[str]:
    root = next(tiny_data.glob("tiny-seed0"))
    return [
        "data.kind='datasets'",
        f"data.sets.source={{reader='market', root='{root / 'source'}'}}",
        f"data.sets.target={{reader='market', root='{root / 'target'}'}}",
    ]


def test_a_run_reads_each_domain_with_its_reader(tiny_data, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--profile", "strong_baseline", "--work-dir", str(run), "--quiet", *as_sets(tiny_overrides(tiny_data, *_sets(tiny_data)))]) == 0
    evaluations = json.loads((run / "metrics.json").read_text())["evaluations"]
    assert {e["domain"] for e in evaluations} == {"source", "target"}
    # and the run folder alone gives its model back, data readers included
    assert main(["evaluate", "--run", str(run), "--data", "target", "--quiet"]) == 0


def test_stats_reads_any_reader_without_a_profile(tiny_data, tmp_path, capsys):
    root = next(tiny_data.glob("tiny-seed0"))
    out = tmp_path / "stats.json"
    sets = ["data.kind='datasets'", f"data.sets.photos={{reader='unlabelled', root='{root / 'target' / 'query'}'}}"]
    assert main(["data", "stats", *as_sets(sets), "--json", str(out)]) == 0
    table = json.loads(out.read_text())["photos"]
    images = len(list((root / "target" / "query").glob("*.jpg")))
    assert table["train"]["images"] == images and table["query"]["images"] == 0


def test_a_root_of_another_layout_is_one_line_naming_both(tiny_data, capsys):
    root = next(tiny_data.glob("tiny-seed0"))
    sets = ["data.kind='datasets'", f"data.sets.source={{reader='veri', root='{root / 'source'}'}}"]
    assert main(["data", "stats", *as_sets(sets)]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"reidkit: {root / 'source'} does not have the VeRi-776 layout")


def test_combineall_counts_query_and_gallery_in_training_without_distractors(tiny_data, tmp_path):
    from reidkit.adapters.data.market import read_market

    root = next(tiny_data.glob("tiny-seed0")) / "source"
    out = tmp_path / "stats.json"
    sets = ["data.kind='datasets'", f"data.sets.source={{reader='market', root='{root}', combineall=true}}"]
    assert main(["data", "stats", *as_sets(sets), "--json", str(out)]) == 0
    plain = read_market(root, domain="source")
    people = [r for r in (*plain.query, *plain.gallery) if r.pid != 0]
    train = json.loads(out.read_text())["source"]["train"]
    assert train["images"] == len(plain.train) + len(people)
    assert train["ids"] == plain.num_train_pids + len({r.pid for r in people})


def test_usl_on_unlabelled_images_trains_without_evaluation_and_says_so(tiny_data, tmp_path, capsys):
    photos = next(tiny_data.glob("tiny-seed0")) / "target" / "bounding_box_train"
    run = tmp_path / "run"
    sets = [
        "data.kind='datasets'", f"data.sets.photos={{reader='unlabelled', root='{photos}'}}",
        "train.domain='photos'", "eval.domains=['photos']", "adapt.start_from='scratch'",
        "pseudo_labeler.kind='kmeans'", "pseudo_labeler.num_clusters=8", "train.ids_per_batch=2", "train.instances_per_id=4",
    ]  # fmt: skip
    args = ["adapt", "--profile", "strong_baseline_usl", "--work-dir", str(run), *as_sets(tiny_overrides(tiny_data, *sets))]
    assert main(args) == 0
    printed = capsys.readouterr()
    assert "not evaluated: the domain has no query and gallery (unlabelled data)" in printed.out + printed.err
    assert "no evaluation: no domain of eval.domains has a query and a gallery" in printed.out
    assert (run / "checkpoints" / "best.pt").is_file()  # the newest epoch, as nothing selects another
    logged = json.loads((run / "metrics.json").read_text())
    assert logged["evaluations"] == []
    assert all("ari" not in epoch for epoch in logged.get("pseudo_labels", []))  # no identities to score against
    assert main(["extract", "--run", str(run), "--images", str(photos), "--out", str(tmp_path / "f.npy"), "--quiet"]) == 0

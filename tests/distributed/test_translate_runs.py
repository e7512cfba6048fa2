"""A translation run (SPGAN on the tiny preset: 2 epochs of 2 iterations) on 2 ranks (gloo, CPU):
both ranks train every epoch and end with identical networks, rank 0 alone writes the run files
and renders the source once, with the source's identities, cameras and image counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from reidkit.adapters.data.market import read_market
from reidkit.adapters.data.synth import ensure_synthetic
from reidkit.adapters.runtime.checkpoint import read_checkpoint
from tests.distributed import workers

pytestmark = pytest.mark.slow

NETWORKS = ("generators", "discriminators", "metric_net")


@pytest.fixture(scope="module")
def two_ranks(tiny_data, tmp_path_factory) -> tuple[list[dict], Path]:
    out = tmp_path_factory.mktemp("translation")
    overrides = ["data.preset='tiny'", f"data.cache_dir='{tiny_data}'", "runtime.threads=1", "input.num_workers=0", "runtime.quiet=true"]
    workers.spawn(workers.translation_run, "spgan", overrides, out / "spgan", out)
    ranks = [torch.load(out / f"translate_rank{r}.pt", weights_only=False) for r in range(workers.WORLD)]
    return ranks, out / "spgan"


def test_both_ranks_train_every_epoch_and_end_with_identical_networks(two_ranks):
    first, second = two_ranks[0]
    assert first["epochs_done"] == second["epochs_done"] == 2
    for name in NETWORKS:
        assert first[name], name
        for key in first[name]:
            torch.testing.assert_close(first[name][key], second[name][key], rtol=0, atol=0, msg=f"{name}.{key}")


def test_rank_zero_alone_renders_the_source_with_its_identities_cameras_and_counts(two_ranks, tiny_data):
    ranks, run_dir = two_ranks
    assert [rank["translate_calls"] for rank in ranks] == [3, 0]  # one call per split, on rank 0
    source = read_market(ensure_synthetic("tiny", 0, tiny_data)["source"])
    rendered = read_market(run_dir / "translated")
    for mine, theirs in ((rendered.train, source.train), (rendered.query, source.query), (rendered.gallery, source.gallery)):
        assert sorted((Path(r.path).name, r.pid, r.camid) for r in mine) == sorted((Path(r.path).name, r.pid, r.camid) for r in theirs)
    manifest = json.loads((run_dir / "translated" / "manifest.json").read_text())
    assert manifest["made_by"] == "translator after epoch 2"
    assert {k: v["images"] for k, v in manifest["splits"].items()} == {
        "bounding_box_train": len(source.train), "query": len(source.query), "bounding_box_test": len(source.gallery)
    }
    assert not list((run_dir / "translated").rglob(".*.tmp"))


def test_rank_zero_writes_one_set_of_run_files_whose_checkpoint_loads_without_ddp(two_ranks):
    ranks, run_dir = two_ranks
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("epoch_*.pt")) == ["epoch_0001.pt", "epoch_0002.pt"]
    assert sorted(p.name for p in (run_dir / "previews").iterdir()) == ["epoch_002.png"]
    events = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert {e.get("world_size") for e in events if e["event"] == "runtime"} == {2}
    step = read_checkpoint(run_dir / "checkpoints" / "epoch_0002.pt")["components"]["step"]
    for name in NETWORKS:
        assert not any(key.startswith("module.") for key in step[name]), name
        for key, value in ranks[0][name].items():
            torch.testing.assert_close(step[name][key], value, rtol=0, atol=0, msg=f"{name}.{key}")

"""Whole runs on 2 ranks (gloo, CPU) of the tiny preset: `reidkit train` under torchrun writes
its files from rank 0 alone and a checkpoint that loads without DDP; the strong cluster baseline,
SpCL and GLC (rank 0 corrects, both restart) train both ranks on the same pseudo labels, the first
epoch's equal to one process's, and end with identical models."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from reidkit.adapters.models.backbone import build_reid_model
from tests.support.tiny import GLC_OVERRIDES, tiny_overrides
from tests.distributed import workers

pytestmark = pytest.mark.slow


def adapt_overrides(tiny_data: Path, *extra: str) -> list[str]:
    """An adaptation profile on the tiny preset from a scratch model; k-means gives 8 clusters,
    exactly the 2 ranks x 4 identities a step needs."""
    return tiny_overrides(
        tiny_data,
        "train.domain='target'",
        "eval.domains=['target']",
        "adapt.start_from='scratch'",
        "pseudo_labeler.kind='kmeans'",
        "pseudo_labeler.num_clusters=8",
        "refine.kind='none'",  # SpCL's self-paced criterion refines DBSCAN's clusters only
        "input.num_workers=0",
        "runtime.threads=1",
        *extra,
    )


PROFILES = ("strong_baseline_usl", "spcl_usl", "glc_cluster_contrast_uda")
# GLC's corrected labels on the tiny preset have fewer clusters than k-means' 8: 2 identities a rank
EXTRA = {"glc_cluster_contrast_uda": (*GLC_OVERRIDES, "train.ids_per_batch=2")}


@pytest.fixture(scope="module")
def two_ranks(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    jobs = [(name, adapt_overrides(tiny_data, *EXTRA.get(name, ())), out / name) for name in PROFILES]
    workers.spawn(workers.runs, jobs, [workers.free_port() for _ in jobs], out)
    ranks = [torch.load(out / f"runs_rank{r}.pt", weights_only=False) for r in range(workers.WORLD)]
    return {name: [rank[i] for rank in ranks] for i, name in enumerate(PROFILES)}, out


@pytest.mark.parametrize("profile", PROFILES)
def test_both_ranks_train_on_the_same_pseudo_labels(two_ranks, profile):
    first, second = two_ranks[0][profile]
    assert len(first["labels"]) == len(second["labels"]) == 2  # one relabelling per epoch
    for mine, theirs in zip(first["labels"], second["labels"]):
        np.testing.assert_array_equal(mine, theirs)


@pytest.mark.parametrize("profile", PROFILES)
def test_first_labels_equal_one_process_labels(two_ranks, profile, tiny_data, tmp_path):
    single = workers.run_recording(profile, adapt_overrides(tiny_data, *EXTRA.get(profile, ()), "train.epochs=1"), tmp_path)
    np.testing.assert_array_equal(two_ranks[0][profile][0]["labels"][0], single["labels"][0])


@pytest.mark.parametrize("profile", PROFILES)
def test_ranks_end_with_identical_models(two_ranks, profile):
    first, second = (rank["model"] for rank in two_ranks[0][profile])
    for key in first:
        torch.testing.assert_close(first[key], second[key], rtol=0, atol=0, msg=key)


def test_only_rank_zero_writes_the_run_files(two_ranks):
    run_dir = two_ranks[1] / "spcl_usl"
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("epoch_*.pt")) == ["epoch_0001.pt", "epoch_0002.pt"]
    assert len(json.loads((run_dir / "metrics.json").read_text())["pseudo_labels"]) == 2  # not once per rank


def test_torchrun_trains_and_saves_a_checkpoint_that_loads_without_ddp(tiny_data, tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    reidkit = shutil.which("reidkit", path=str(Path(sys.executable).parent))
    assert torchrun and reidkit, "torchrun and reidkit belong in the test environment"
    sets = [a for item in tiny_overrides(tiny_data, "runtime.threads=1", "eval.domains=['source']") for a in ("--set", item)]
    command = [torchrun, "--standalone", "--nproc-per-node", "2", "--no-python", reidkit, "train", "--profile", "strong_baseline",
               "--work-dir", str(tmp_path), *sets]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    events = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert {e.get("world_size") for e in events if e["event"] == "runtime"} == {2}
    assert sum(e["event"] == "finished" for e in events) == 1  # rank 1 logged nothing to the file
    saved = torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=True)
    state = saved["components"]["step"]["model"]
    model = build_reid_model("resnet18", num_classes=state["classifier.weight"].shape[0], last_stride=2)
    model.load_state_dict(state)  # no "module." prefix

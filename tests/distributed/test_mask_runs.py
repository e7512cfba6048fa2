"""The baggage mask head on 2 ranks (gloo, CPU): `mvb_mask` on the tiny baggage preset trains
both ranks, each on its share of the P x K batches with their true boxes, and they end with
identical networks, the mask decoder included (issue 21)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.distributed import workers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("mask")
    overrides = [
        "data.preset='tiny_baggage'", f"data.cache_dir='{out / 'data'}'", "runtime.threads=1", "input.num_workers=0",
        "runtime.quiet=true", "train.epochs=2", "train.iters_per_epoch=2", "train.ids_per_batch=2", "train.instances_per_id=3",
        "model.mask_attention=true",
    ]  # fmt: skip
    workers.spawn(workers.supervised_run, "mvb_mask", overrides, out / "mvb_mask", out)
    return [torch.load(out / f"supervised_rank{r}.pt", weights_only=False) for r in range(workers.WORLD)]


def test_both_ranks_train_the_mask_head_and_end_identical(two_ranks):
    first, second = two_ranks
    assert first["epochs_done"] == second["epochs_done"] == 2
    heads = [key for key in first["model"] if key.startswith("mask_head.") and key.endswith("weight")]
    assert heads, "the model has a mask head"
    assert any(not torch.equal(first["model"][key], first["initial"][key]) for key in heads), "the mask head trained"
    for key, value in first["model"].items():
        torch.testing.assert_close(value, second["model"][key], rtol=0, atol=0, msg=key)

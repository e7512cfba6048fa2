"""Supervised training on several domains side by side: one classifier over every domain's
identities, and with ``train.sampler = "datasets"`` every batch holds each dataset."""

from __future__ import annotations

import pytest

from reidkit.entrypoints.app import build_app
from reidkit.entrypoints.settings import load_profile
from tests.support.tiny import tiny_overrides

TWO = ["train.domain=['source', 'target']", "train.sampler='datasets'", "train.groups_per_batch=2"]


@pytest.mark.slow
def test_two_embedded_domains_share_every_batch_and_the_classifier(tiny_data, tmp_path):
    app = build_app(load_profile("strong_baseline", tiny_overrides(tiny_data, *TWO)), work_dir=str(tmp_path))
    domains = app.container.data.domains()
    source_ids, target_ids = domains["source"].num_train_pids, domains["target"].num_train_pids
    with app:
        batches = app.container.batches()
        for epoch in range(2):
            for batch in batches.epoch(epoch):
                labels = batch.labels.tolist()
                assert sum(label < source_ids for label in labels) == len(labels) // 2  # half each
        app.run()
        model = app.container.network.model()
    assert model.num_classes == source_ids + target_ids
    assert {r.dataset for r in app.container.data.train_set().train} == {0, 1}


def test_cameras_per_batch_groups_by_camera(tiny_data, tmp_path):
    app = build_app(
        load_profile("strong_baseline", tiny_overrides(tiny_data, "train.sampler='cameras'", "train.groups_per_batch=2")),
        work_dir=str(tmp_path),
    )
    records = app.container.data.train_set().train
    with app:
        for batch in app.container.batches().epoch(0):
            cameras = {records[i].camid for i in batch.indexes.tolist()}
            assert len(cameras) == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["train.sampler='datasets'"], r"train.sampler 'datasets' draws train.groups_per_batch \(2\) datasets per batch, but train.domain lists 1"),
        (["train.sampler='cameras'", "train.groups_per_batch=3"], r"splits the batch of train.ids_per_batch x train.instances_per_id \(8\) images evenly"),
        (["train.domain=['source', 'source']"], r"'domain' names \['source'\] more than once"),
    ],
)
def test_impossible_sampling_is_refused_before_anything_is_built(tiny_data, extra, message):
    from reidkit.domain.errors import ProfileError

    with pytest.raises(ProfileError, match=message):
        load_profile("strong_baseline", tiny_overrides(tiny_data, *extra))


def test_adaptation_methods_adapt_to_one_domain(tiny_data):
    from reidkit.domain.errors import ProfileError

    with pytest.raises(ProfileError, match=r"method 'spcl' adapts to one domain; train.domain lists \['source', 'target'\]"):
        load_profile("spcl_usl", ["train.domain=['source', 'target']"])

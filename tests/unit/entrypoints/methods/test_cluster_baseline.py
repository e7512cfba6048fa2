"""The strong cluster baseline and UDA_TP as their method module wires them."""

from __future__ import annotations

import pytest
from dependency_injector import providers

from reidkit.adapters.runtime.checkpoint import read_checkpoint
from tests.support.fakes import TruthLabeler
from tests.support.tiny import tiny_app


@pytest.mark.slow
def test_strong_baseline_uda_trains_one_head_over_the_source_ids_and_the_clusters(tiny_data, start_models, tmp_path):
    app = tiny_app("strong_baseline_uda", tiny_data, start_models, tmp_path)
    assert app.profile.adapt.source_domain == "source"  # OpenUnReID's UDA strong baseline adds the source
    source_ids = app.container.data.domains()["source"].num_train_pids
    batches = app.container.adaptation.batches()
    assert type(batches).__name__ == "JointBatches"
    assert batches.label_space.source_classes == source_ids
    labeler = TruthLabeler(app.container.data.train_set().train_pids)
    with app.container.adaptation.labeler.override(providers.Object(labeler)), app:
        app.run()
    assert app.container.network.model().num_classes == source_ids + labeler.num_clusters
    components = read_checkpoint(tmp_path / "checkpoints" / "epoch_0002.pt")["components"]
    assert components["source_rows"] == {"trained": True}


def test_strong_baseline_uda_without_a_source_domain_trains_on_the_target_alone(tiny_data, start_models, tmp_path):
    app = tiny_app("strong_baseline_uda", tiny_data, start_models, tmp_path, "adapt.source_domain=''")
    assert type(app.container.adaptation.batches()).__name__ == "PseudoLabelledBatches"
    assert app.container.adaptation.label_space().source_classes == 0
    assert set(app.container.checkpointer()._inner.components) == {"step"}  # no source rows to keep


def test_uda_tp_has_no_classifier_and_resets_only_the_sampler(tiny_data, start_models, tmp_path):
    app = tiny_app("uda_tp", tiny_data, start_models, tmp_path)
    assert app.container.network.model().classifier is None
    assert [type(c).__name__ for c in app.container.consumers()] == ["PseudoLabelledBatches"]
    assert [w.reads for w in app.container.step().losses] == ["embeddings"]  # OpenUnReID's UDA_TP: the post-BN feature

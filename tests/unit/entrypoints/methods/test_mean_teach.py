"""Mutual Mean-Teaching as its method module wires it."""

from __future__ import annotations

import pytest
from dependency_injector import providers

from reidkit.adapters.runtime.checkpoint import read_checkpoint
from tests.support.fakes import TruthLabeler
from tests.support.tiny import tiny_app


def test_two_students_their_teachers_and_evaluation_with_the_first_mean_teacher(tiny_data, start_models, tmp_path):
    app = tiny_app("mmt_uda", tiny_data, start_models, tmp_path)
    c = app.container
    step = c.step()
    assert step.students[0] is c.peer_1.student.model() and step.students[1] is c.peer_2.student.model()
    assert step.teachers == [c.peer_1.teacher(), c.peer_2.teacher()]
    assert step.teacher_momentum == 0.98  # [embedded.mean_teach]
    consumers = c.consumers()
    assert [type(x).__name__ for x in consumers] == ["ClassifierReset"] * 4 + ["PseudoLabelledBatches"]
    assert [x.optimizer is None for x in consumers[:4]] == [False, False, True, True]
    optimised = {id(p) for group in c.optimizer().param_groups for p in group["params"]}
    assert not any(id(p) in optimised for p in c.peer_1.teacher().parameters())


def test_the_triplets_follow_loss_triplet_on(tiny_data, start_models, tmp_path):
    assert tiny_app("mmt_uda", tiny_data, start_models, tmp_path).container.step().triplet_on == "features"
    app = tiny_app("mmt_uda", tiny_data, start_models, tmp_path, "loss.triplet_on='embeddings'")
    assert app.container.step().triplet_on == "embeddings"


@pytest.mark.slow
def test_mmt_with_a_source_domain_trains_four_heads_over_the_source_ids_and_the_clusters(tiny_data, start_models, tmp_path):
    app = tiny_app("mmt_plus_uda", tiny_data, start_models, tmp_path)  # the profile trains on the source
    source_ids = app.container.data.domains()["source"].num_train_pids
    assert app.container.adaptation.batches().label_space.source_classes == source_ids
    labeler = TruthLabeler(app.container.data.train_set().train_pids)
    with app.container.adaptation.labeler.override(providers.Object(labeler)), app:
        app.run()
    c = app.container
    models = (c.peer_1.student.model(), c.peer_2.student.model(), c.peer_1.teacher(), c.peer_2.teacher())
    assert [m.num_classes for m in models] == [source_ids + labeler.num_clusters] * 4
    components = read_checkpoint(tmp_path / "checkpoints" / "epoch_0002.pt")["components"]
    assert [components[f"source_rows_{i}"] for i in range(4)] == [{"trained": True}] * 4

"""SpCL as its method module wires it."""

from __future__ import annotations

from tests.support.tiny import tiny_app


def test_the_memory_and_the_self_paced_threshold_are_checkpointed(tiny_data, start_models, tmp_path):
    app = tiny_app("spcl_uda", tiny_data, start_models, tmp_path)
    components = app.container.checkpointer()._inner.components
    assert set(components) == {"step", "memory", "refiners_0"}
    assert type(components["refiners_0"]).__name__ == "SelfPacedReliability"


def test_spcl_uda_trains_on_joint_batches_with_a_dsbn_model_and_a_memory_in_their_label_space(
    tiny_data, start_models, tmp_path
):
    app = tiny_app("spcl_uda", tiny_data, start_models, tmp_path, "model.dsbn=true")
    assert type(app.container.adaptation.batches()).__name__ == "JointBatches"
    assert hasattr(app.container.network.model(), "domain_router")
    source_ids = app.container.data.domains()["source"].num_train_pids
    assert app.container.memory().num_source_classes == source_ids == app.container.adaptation.label_space().source_classes
    assert not app.container.memory().initialized  # filled when the first epoch collects features


def test_the_memory_rows_are_refreshed_as_the_profile_says(tiny_data, start_models, tmp_path):
    assert tiny_app("spcl_usl", tiny_data, start_models, tmp_path).container.features().refresh is True  # [embedded]
    plain = tiny_app("spcl_usl", tiny_data, start_models, tmp_path, "spcl.refresh_instances=false")
    assert plain.container.features().refresh is False


def test_the_profile_chooses_how_singletons_are_sampled(tiny_data, start_models, tmp_path):
    assert tiny_app("spcl_usl", tiny_data, start_models, tmp_path).container.adaptation.target_batches().singletons == "once"
    upstream = tiny_app("spcl_usl", tiny_data, start_models, tmp_path, "train.singletons='spcl'")
    assert upstream.container.adaptation.target_batches().singletons == "spcl"

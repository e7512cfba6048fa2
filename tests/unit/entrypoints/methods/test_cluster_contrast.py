"""Cluster Contrast as its method module wires it."""

from __future__ import annotations

from tests.support.tiny import tiny_app


def test_the_memory_settings_reach_the_memory(tiny_data, start_models, tmp_path):
    app = tiny_app("cluster_contrast_usl", tiny_data, start_models, tmp_path, "cluster_contrast.update_rule='hard'", "cluster_contrast.momentum=0.3")
    memory = app.container.memory()
    assert (memory.update_rule, memory.momentum, memory.learn_temperature) == ("hard", 0.3, False)
    assert set(app.container.checkpointer()._inner.components) == {"step", "memory"}


def test_a_learned_temperature_is_optimised_with_the_model(tiny_data, start_models, tmp_path):
    app = tiny_app("cluster_contrast_usl", tiny_data, start_models, tmp_path, "cluster_contrast.learn_temperature=true")
    optimised = {id(p) for group in app.container.optimizer().param_groups for p in group["params"]}
    assert id(app.container.memory().log_temperature) in optimised

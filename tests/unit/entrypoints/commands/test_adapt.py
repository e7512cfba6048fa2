"""`reidkit adapt`: what the pre-training of a missing starting model runs."""

from __future__ import annotations

from reidkit.entrypoints.app import starting_models
from reidkit.entrypoints.commands.adapt import pretrain_profile
from reidkit.entrypoints.settings import load_profile


def test_a_source_model_is_pretrained_with_the_adaptations_architecture_data_and_seed():
    profile = load_profile("cluster_contrast_uda", ["seed=3", "data.preset='tiny'", "model.pooling='gem'"])
    (start,) = starting_models(profile)
    base = pretrain_profile(profile, start)
    assert (base.method, base.name, base.seed) == ("supervised", "cluster_contrast_uda-pretrain", 3)
    assert base.data == profile.data and base.scaled and base.input.height == 64  # the tiny scale
    assert base.model.pooling == "gem" and not base.model.dsbn  # it must load into the adapted model
    assert base.eval.domains == ["source", "target"]  # its target score is direct transfer
    assert base.runtime.work_dir == ""


def test_mmts_peer_is_pretrained_with_the_next_seed():
    profile = load_profile("mmt_uda", ["seed=3"])
    source, peer = starting_models(profile)
    assert (source.setting, peer.setting) == ("adapt.source_model", "mean_teach.peer_source_model")
    assert pretrain_profile(profile, peer).seed == 4


def test_a_usl_backbone_keeps_the_pretraining_profiles_own_model_but_the_adaptations_backbone():
    profile = load_profile("cluster_contrast_usl")  # GeM pooling: only the trunk is exported
    (start,) = starting_models(profile)
    assert start.trunk and start.setting == "model.pretrained"
    base = pretrain_profile(profile, start)
    assert base.name == "cluster_contrast_usl-pretrain" and base.train.domain == "aux"
    assert (base.model.backbone, base.model.pooling) == (profile.model.backbone, "avg")

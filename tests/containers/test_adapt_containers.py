"""The adaptation method containers: every profile trains on the tiny preset, the labeler swaps
through the container, and what each method must checkpoint is checkpointed."""

from __future__ import annotations

import json

import numpy as np
import pytest
from dependency_injector import providers

from reidkit.adapters.models.backbone import build_reid_model
from reidkit.adapters.runtime.checkpoint import export_model, read_checkpoint
from reidkit.application.cluster_adapt import ClusterAdapt
from reidkit.domain.errors import ProfileError
from reidkit.domain.types import FeatureMatrix, PseudoLabels
from reidkit.entrypoints.adapt_containers import ClusterBaselineContainer, ClusterContrastContainer
from reidkit.entrypoints.containers import build_app
from reidkit.entrypoints.settings import OptimizerSettings, SchedulerSettings, kinds_of, load_profile
from tests.conftest import tiny_overrides

ADAPT_PROFILES = [
    "strong_baseline_usl", "strong_baseline_uda", "uda_tp",
    "spcl_usl", "spcl_uda", "cluster_contrast_usl", "cluster_contrast_uda", "mmt_uda", "mmt_usl", "mmt_plus_uda",
]  # fmt: skip


class TruthLabeler:
    """Labels every sample by its true identity, leaving the first identity's samples outliers:
    deterministic, enough clusters for any batch shape, and it records what it clustered."""

    def __init__(self, true_ids):
        _, self.truth = np.unique(np.asarray(true_ids), return_inverse=True)
        self.calls: list[int] = []

    def assign(self, features: FeatureMatrix) -> PseudoLabels:
        self.calls.append(len(features))
        return PseudoLabels(np.where(self.truth == 0, -1, self.truth - 1))


@pytest.fixture(scope="module")
def source_model(tmp_path_factory):
    """Starting models with the tiny profiles' architecture (they stand in for pre-training runs):
    a whole source model (UDA), and beside it its trunk in torchvision naming (USL's backbone)."""
    folder = tmp_path_factory.mktemp("source")
    model = build_reid_model("resnet18", num_classes=16, last_stride=2)
    export_model(folder / "source.pt", model)
    export_model(folder / "trunk.pt", model.trunk)
    return folder / "source.pt"


def adapt_overrides(tiny_data, *extra):
    return tiny_overrides(tiny_data, "train.domain='target'", "eval.domains=['target']", *extra)


def load_adapt_profile(name, tiny_data, source_model, *extra):
    shipped = load_profile(name)
    starting = {
        "source_model": [f"adapt.source_model='{source_model}'"],
        "pretrained": [f"model.pretrained='{source_model.with_name('trunk.pt')}'"],
    }.get(shipped.adapt.start_from, [])
    if shipped.mean_teach.peer_start == "second_pretraining":
        starting.append(f"mean_teach.peer_source_model='{source_model}'")
    return load_profile(name, adapt_overrides(tiny_data, *starting, *extra))


@pytest.mark.slow
@pytest.mark.parametrize("name", ADAPT_PROFILES)
def test_every_adaptation_profile_trains_a_couple_of_iterations(name, tiny_data, source_model, tmp_path):
    profile = load_adapt_profile(name, tiny_data, source_model)
    app = build_app(profile, work_dir=str(tmp_path))
    labeler = TruthLabeler([r.pid for r in app.core.domains()["target"].train])
    with app.core.pseudo_labeler.override(providers.Object(labeler)), app:
        use_case = app.method.use_case()
        assert isinstance(use_case, ClusterAdapt)
        progress = use_case.run()
    assert progress.epochs_done == 2
    assert labeler.calls == [64, 64]  # the swapped labeler clustered the 64 target images each epoch
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert [(e["epoch"], e["clusters"], e["outliers"]) for e in saved["pseudo_labels"]] == [(1, 15, 4), (2, 15, 4)]
    assert saved["pseudo_labels"][0]["precision"] == 1.0  # the truth labeler is scored as perfect
    assert [(e["epoch"], e["domain"]) for e in saved["evaluations"]] == [(2, "target")]
    components = read_checkpoint(tmp_path / "checkpoints" / "epoch_0002.pt")["components"]
    expected = {"step"} | ({"memory"} if profile.method in ("spcl", "cluster_contrast") else set())
    assert expected <= set(components)


def test_spcl_memory_and_self_paced_threshold_are_checkpointed(tiny_data, source_model, tmp_path):
    app = build_app(load_adapt_profile("spcl_uda", tiny_data, source_model), work_dir=str(tmp_path))
    components = app.method.checkpointer()._inner.components
    assert set(components) == {"step", "memory", "labeler"}
    assert type(components["labeler"]).__name__ == "SelfPacedRefiner"


def test_spcl_uda_trains_on_joint_batches_with_a_dsbn_model(tiny_data, source_model, tmp_path):
    app = build_app(load_adapt_profile("spcl_uda", tiny_data, source_model), work_dir=str(tmp_path))
    assert type(app.method.batches()).__name__ == "JointBatches"
    assert hasattr(app.method.model(), "domain_router")
    assert app.method.memory().num_source_classes == 0  # filled when the first epoch collects features


@pytest.mark.slow
def test_strong_baseline_uda_trains_one_head_over_the_source_ids_and_the_clusters(tiny_data, source_model, tmp_path):
    profile = load_adapt_profile("strong_baseline_uda", tiny_data, source_model)
    assert profile.adapt.source_domain == "source"  # OpenUnReID's UDA strong baseline adds the source
    app = build_app(profile, work_dir=str(tmp_path))
    source_ids = len({r.pid for r in app.core.domains()["source"].train})
    batches = app.method.batches()
    assert type(batches).__name__ == "JointBatches"
    assert batches.target_label_offset == source_ids
    labeler = TruthLabeler([r.pid for r in app.core.domains()["target"].train])
    with app.core.pseudo_labeler.override(providers.Object(labeler)), app:
        app.method.use_case().run()
    assert app.method.model().num_classes == source_ids + 15  # the truth labeler's 15 clusters
    components = read_checkpoint(tmp_path / "checkpoints" / "epoch_0002.pt")["components"]
    assert components["source_rows"] == {"trained": True}


def test_strong_baseline_uda_without_a_source_domain_trains_on_the_target_alone(tiny_data, source_model, tmp_path):
    profile = load_adapt_profile("strong_baseline_uda", tiny_data, source_model, "adapt.source_domain=''")
    app = build_app(profile, work_dir=str(tmp_path))
    assert type(app.method.batches()).__name__ == "PseudoLabelledBatches"
    assert set(app.method.checkpointer()._inner.components) == {"step"}


@pytest.mark.slow
def test_mmt_with_a_source_domain_trains_four_heads_over_the_source_ids_and_the_clusters(tiny_data, source_model, tmp_path):
    profile = load_adapt_profile("mmt_plus_uda", tiny_data, source_model)  # the profile trains on the source
    app = build_app(profile, work_dir=str(tmp_path))
    source_ids = len({r.pid for r in app.core.domains()["source"].train})
    assert app.method.batches().target_label_offset == source_ids
    labeler = TruthLabeler([r.pid for r in app.core.domains()["target"].train])
    with app.core.pseudo_labeler.override(providers.Object(labeler)), app:
        app.method.use_case().run()
    models = (app.method.model(), app.method.student_2(), app.method.teacher_1(), app.method.teacher_2())
    assert [m.num_classes for m in models] == [source_ids + 15] * 4
    components = read_checkpoint(tmp_path / "checkpoints" / "epoch_0002.pt")["components"]
    assert [components[f"source_rows_{i}"] for i in range(1, 5)] == [{"trained": True}] * 4


def test_uda_tp_has_no_classifier_and_resets_only_the_sampler(tiny_data, source_model, tmp_path):
    app = build_app(load_adapt_profile("uda_tp", tiny_data, source_model), work_dir=str(tmp_path))
    assert app.method.model().classifier is None
    assert [type(c).__name__ for c in app.method.consumers()] == ["PseudoLabelledBatches"]
    assert app.method.step().triplet_on == "embeddings"  # OpenUnReID's UDA_TP: the post-BN feature


@pytest.mark.parametrize(("name", "needs"), [("strong_baseline_uda", "adapt.source_model"), ("spcl_usl", "model.pretrained")])
def test_a_profile_without_its_starting_model_says_how_to_get_one(name, needs, tiny_data, tmp_path):
    profile = load_profile(name, tiny_overrides(tiny_data, "train.domain='target'"))
    with pytest.raises(ProfileError, match=f"needs {needs} .`reidkit adapt` trains adapt.pretrain_profile first"):
        build_app(profile, work_dir=str(tmp_path)).method.model()


@pytest.mark.parametrize("container", [ClusterBaselineContainer, ClusterContrastContainer])
def test_adapt_selector_keys_equal_the_settings_kinds(container):
    assert set(container.optimizer.providers) == set(kinds_of(OptimizerSettings))
    assert set(container.scheduler.providers) == set(kinds_of(SchedulerSettings))


def test_learned_temperature_is_optimised_with_the_model(tiny_data, source_model, tmp_path):
    profile = load_adapt_profile("cluster_contrast_usl", tiny_data, source_model, "memory.learn_temperature=true")
    app = build_app(profile, work_dir=str(tmp_path))
    optimised = {id(p) for group in app.method.optimizer().param_groups for p in group["params"]}
    assert id(app.method.memory().log_temperature) in optimised


def test_mmt_wires_two_students_their_teachers_and_evaluates_with_a_mean_teacher(tiny_data, source_model, tmp_path):
    app = build_app(load_adapt_profile("mmt_uda", tiny_data, source_model), work_dir=str(tmp_path))
    step = app.method.step()
    assert step.students[0] is app.method.model() and step.students[1] is app.method.student_2()
    assert step.teachers == [app.method.teacher_1(), app.method.teacher_2()]
    assert app.method.teacher_evaluations()["target"].encoder.model is app.method.teacher_1()
    consumers = app.method.consumers()
    assert [type(c).__name__ for c in consumers] == ["ClassifierReset"] * 4 + ["PseudoLabelledBatches"]
    assert [c.optimizer is None for c in consumers[:4]] == [False, False, True, True]
    optimised = {id(p) for group in app.method.optimizer().param_groups for p in group["params"]}
    assert not any(id(p) in optimised for p in app.method.teacher_1().parameters())


def test_mmt_triplets_follow_loss_triplet_on(tiny_data, source_model, tmp_path):
    app = build_app(load_adapt_profile("mmt_uda", tiny_data, source_model), work_dir=str(tmp_path))
    assert app.method.step().triplet_on == "features"  # MMT's code: the pooled feature
    profile = load_adapt_profile("mmt_uda", tiny_data, source_model, "loss.triplet_on='embeddings'")
    assert build_app(profile, work_dir=str(tmp_path)).method.step().triplet_on == "embeddings"

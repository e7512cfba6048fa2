"""Building a run: every profile wires, Selectors match the schema, providers swap for fakes, and
a run folder keeps its resolved profile."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest
import torch
from dependency_injector import providers

from reidkit.adapters.runtime.checkpoint import read_checkpoint
from reidkit.adapters.runtime.process_group import Peer
from reidkit.application.supervised_train import SupervisedTrain
from reidkit.domain.errors import ProfileError
from reidkit.domain.types import FeatureMatrix, PseudoLabels
from reidkit.entrypoints.app import PROFILE_FILE, build_app
from reidkit.entrypoints.clustering import Clustering
from reidkit.entrypoints.methods import supervised
from reidkit.entrypoints.parts.data import Data
from reidkit.entrypoints.runtime import ProcessRuntime
from reidkit.entrypoints.settings import (
    DataSettings,
    OptimizerSettings,
    PseudoLabelerSettings,
    RefineSettings,
    SchedulerSettings,
    available_profiles,
    kinds_of,
    load_profile,
    unstructure_profile,
)
from tests.support.fakes import FakeBatches, Journal, MemoryCheckpointer, RecordingObserver, RecordingStep
from tests.support.tiny import starting_overrides, tiny_overrides


@pytest.mark.parametrize(
    ("selector", "union"),
    [
        (Clustering.labeler, PseudoLabelerSettings),
        (Clustering.refiners, RefineSettings),
        (Data.read_domains, DataSettings),
        (supervised.container().optimizer, OptimizerSettings),
        (supervised.container().scheduler, SchedulerSettings),
    ],
)
def test_selector_keys_equal_the_settings_kinds(selector, union):
    assert set(selector.providers) == set(kinds_of(union))


@pytest.mark.parametrize("name", available_profiles())
def test_every_profile_builds_a_container_with_no_missing_dependency(name, start_models, tmp_path):
    app = build_app(load_profile(name, starting_overrides(name, start_models)), work_dir=str(tmp_path))
    app.container.check_dependencies()
    assert app.run_dir == tmp_path


def test_the_correction_settings_build_glcs_refiner_and_the_restart(start_models, tmp_path):
    from reidkit.adapters.clustering.gcn_links import GcnLinkRefiner
    from reidkit.adapters.steps.restart import RestartFromStart

    name = "glc_cluster_contrast_usl"
    app = build_app(load_profile(name, starting_overrides(name, start_models)), work_dir=str(tmp_path))
    (correction,) = app.container.use_case().corrections
    assert isinstance(correction.corrector, GcnLinkRefiner)
    assert (correction.first, correction.every, correction.restart_epochs) == (2, 3, frozenset({5}))  # epochs 3, 6, 9, 12 and 6, from 0
    assert correction.corrector.optimizer == "adam" and correction.corrector.min_cluster_size == 5
    (restart,) = correction.restarts
    assert isinstance(restart, RestartFromStart) and restart.step is app.container.step()
    plain = build_app(load_profile("cluster_contrast_usl", starting_overrides(name, start_models)), work_dir=str(tmp_path / "plain"))
    assert plain.container.use_case().corrections == ()


def test_correct_kind_glc_adds_the_correction_to_any_adaptation_profile(start_models, tmp_path):
    name = "spcl_usl"
    profile = load_profile(name, [*starting_overrides(name, start_models), "correct.kind=glc"])
    (correction,) = build_app(profile, work_dir=str(tmp_path)).container.use_case().corrections
    assert (correction.first, correction.every, correction.restart_epochs, correction.restarts) == (10, 5, frozenset(), ())
    assert correction.corrector.k == 25  # the demo preset's graph size


def clustering(*overrides: str) -> Clustering:
    container = Clustering()
    container.config.from_dict(unstructure_profile(load_profile("spcl_usl", list(overrides))))
    return container


@pytest.mark.parametrize(
    ("overrides", "labeler", "refiners"),
    [
        ([], "DbscanLabeler", ["SelfPacedReliability"]),
        (["refine.kind=none"], "DbscanLabeler", []),
        (["refine.kind=none", "pseudo_labeler.kind='kmeans'", "pseudo_labeler.num_clusters=3"], "KMeansLabeler", []),
        (["refine.kind=none", "pseudo_labeler.kind='infomap'"], "InfomapLabeler", []),
    ],
)
def test_the_settings_pick_the_labeler_and_its_refiners(overrides, labeler, refiners):
    container = clustering(*overrides)
    assert type(container.labeler()).__name__ == labeler
    assert [type(r).__name__ for r in container.refiners()] == refiners


def test_the_self_paced_refiner_reuses_the_labelers_graph():
    container = clustering()
    (refiner,) = container.refiners()
    assert refiner.labeler is container.labeler()
    assert container.labeler().graph_radius == pytest.approx(0.45 + 0.02)


class FixedLabeler:
    def __init__(self, labels):
        self.labels, self.calls = labels, 0

    def assign(self, features: FeatureMatrix) -> PseudoLabels:
        self.calls += 1
        return PseudoLabels(self.labels)


def test_the_clustering_backend_swaps_for_a_fake(start_models, tmp_path):
    app = build_app(load_profile("strong_baseline_usl", starting_overrides("strong_baseline_usl", start_models)), work_dir=str(tmp_path))
    fake = FixedLabeler([0, 0, 1, -1])
    with app.container.adaptation.labeler.override(providers.Object(fake)):
        labels = app.container.adaptation.labeler().assign(FeatureMatrix(np.eye(4)))
    assert fake.calls == 1 and labels.num_clusters == 2
    assert type(app.container.adaptation.labeler()).__name__ == "DbscanLabeler"  # the override is undone


def test_the_use_case_runs_with_a_faked_step_batches_and_checkpointer(tiny_data, tmp_path):
    profile = load_profile("strong_baseline", tiny_overrides(tiny_data, "train.epochs=2", "eval.domains=['target']"))
    app = build_app(profile, work_dir=str(tmp_path))
    journal = Journal()
    step = RecordingStep(journal)
    with (
        app.container.step.override(providers.Object(step)),
        app.container.batches.override(providers.Object(FakeBatches(journal, batches_per_epoch=2))),
        app.container.checkpointer.override(providers.Object(MemoryCheckpointer(journal))),
        app.container.training.observer.override(providers.Object(RecordingObserver(journal))),
        app,
    ):
        use_case = app.container.use_case()
        assert isinstance(use_case, SupervisedTrain)
        progress = use_case.run()
    assert step.seen == [(0, 0), (0, 1), (1, 0), (1, 1)]
    evaluated = [e for e in journal.events if e[0] == "evaluation"]
    assert [(e[1], e[2]) for e in evaluated] == [(1, "target")]  # the real encoder and evaluator ran
    assert progress.epochs_done == 2 and set(progress.last_metrics) == {"target"}


@pytest.fixture
def group_journal(monkeypatch) -> list[str]:
    """Records when the App makes the ranks leave together and when the process group closes."""
    journal: list[str] = []

    @contextmanager
    def recording_group(*args, **kwargs):
        yield False
        journal.append("group closed")

    monkeypatch.setattr("reidkit.entrypoints.runtime.process_group", recording_group)
    monkeypatch.setattr(ProcessRuntime, "leave_together", lambda self: journal.append("leave together"))
    return journal


def test_a_finished_run_leaves_with_its_peers_before_the_group_closes(group_journal, tmp_path):
    with build_app(load_profile("strong_baseline"), work_dir=str(tmp_path)):
        pass
    assert group_journal == ["leave together", "group closed"]


def test_a_failed_run_closes_the_group_without_waiting_for_peers_that_may_be_gone(group_journal, tmp_path):
    app = build_app(load_profile("strong_baseline"), work_dir=str(tmp_path))
    app.on_failure = lambda failure: None
    with pytest.raises(KeyError, match="boom"):
        with app:
            raise KeyError("boom")
    assert group_journal == ["group closed"]


def test_the_runtime_waits_for_its_peers_only_under_torchrun(monkeypatch, tmp_path):
    barriers: list[str] = []
    monkeypatch.setattr(torch.distributed, "barrier", lambda: barriers.append("barrier"))
    ProcessRuntime(device=torch.device("cpu"), rank=0, world_size=1, run_dir=tmp_path).leave_together()
    assert barriers == []
    peers = (Peer(rank=0, host="h", pid=1, parent=0), Peer(rank=1, host="h", pid=2, parent=0))
    ProcessRuntime(device=torch.device("cpu"), rank=0, world_size=2, run_dir=tmp_path, peers=peers).leave_together()
    assert barriers == ["barrier"]


@pytest.mark.parametrize(("overrides", "reranks"), [([], False), (["rerank.enabled=true", "rerank.k1=12"], True)])
def test_rerank_settings_reach_the_evaluator(overrides, reranks, tmp_path):
    app = build_app(load_profile("strong_baseline", overrides), work_dir=str(tmp_path))
    reranker = app.container.data.evaluator().reranker
    assert (reranker is not None) is reranks
    if reranks:
        assert reranker.k1 == 12


@pytest.mark.slow
def test_a_run_keeps_its_resolved_profile_in_its_folder_and_its_checkpoints(tiny_data, tmp_path):
    profile = load_profile("strong_baseline", tiny_overrides(tiny_data, "train.epochs=2", "eval.domains=['source']"))
    with build_app(profile, work_dir=str(tmp_path / "run")) as app:
        app.run()
    written = tmp_path / "run" / PROFILE_FILE
    again = load_profile(str(written))
    assert again.train.epochs == 2 and again.input.height == 64 and again.scaled
    assert again.runtime.work_dir == str(tmp_path / "run")
    saved = read_checkpoint(tmp_path / "run" / "checkpoints" / "epoch_0002.pt")["metadata"]["profile"]
    assert saved == unstructure_profile(again)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("strong_baseline_uda", "adapt.start_from = 'source_model' needs adapt.source_model (`reidkit adapt` trains adapt.pretrain_profile first when it is empty)"),
        ("spcl_usl", "adapt.start_from = 'pretrained' needs model.pretrained (`reidkit adapt` trains adapt.pretrain_profile first when it is empty)"),
    ],
)  # fmt: skip
def test_a_profile_without_its_starting_model_says_how_to_get_one(name, message, tmp_path):
    with pytest.raises(ProfileError) as info:
        build_app(load_profile(name), work_dir=str(tmp_path))
    assert str(info.value) == message


def test_a_peer_without_its_source_model_says_how_to_get_one(start_models, tmp_path):
    profile = load_profile("mmt_uda", [f"adapt.source_model='{start_models['source']}'"])
    with pytest.raises(ProfileError) as info:
        build_app(profile, work_dir=str(tmp_path))
    assert str(info.value) == (
        "mean_teach.peer_start = 'second_pretraining' needs mean_teach.peer_source_model "
        "(`reidkit adapt` trains adapt.pretrain_profile with seed + 1 first when it is empty)"
    )


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("cluster_contrast_usl", ["cluster_contrast.update_rule=median"], "must be one of ['mean', 'hard'], got 'median' @ profile.cluster_contrast.update_rule"),
        ("spcl_usl", ["spcl.momentum=1.5"], "'momentum' must be < 1.0: 1.5 @ profile.spcl"),
        ("spcl_usl", ["spcl.temprature=0.1"], "extra fields found (temprature) @ profile.spcl"),
        ("mmt_usl", ["mean_teach.peer_start='second_pretraining'"], "mean_teach.peer_start = 'second_pretraining' needs adapt.start_from = 'source_model' @ profile"),
        ("strong_baseline", ["supervised.lr=1"], "method 'supervised' has no settings table; found [supervised] @ profile"),
    ],
)  # fmt: skip
def test_a_methods_own_table_is_checked_when_the_run_is_built(name, overrides, message, start_models, tmp_path):
    profile = load_profile(name, [*starting_overrides(name, start_models), *overrides])
    with pytest.raises(ProfileError) as info:
        build_app(profile, work_dir=str(tmp_path))
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("strong_baseline_usl", ["model.head=pcb"], "model.head = 'pcb' has a classifier per stripe, which the per-epoch classifier reset does not resize yet; use loss.ce_weight = 0 (the triplet alone, as UDA_TP) or model.head = 'bnneck' @ profile"),
        ("mmt_uda", ["model.head=pcb"], "model.head = 'pcb' has a classifier per stripe, which MMT's per-epoch reset of its four heads does not resize yet; use model.head = 'bnneck' @ profile"),
    ],
)  # fmt: skip
def test_a_part_based_head_is_refused_where_heads_are_reset_each_epoch(name, overrides, message, start_models, tmp_path):
    profile = load_profile(name, [*starting_overrides(name, start_models), *overrides])
    with pytest.raises(ProfileError) as info:
        build_app(profile, work_dir=str(tmp_path))
    assert str(info.value) == message


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backbone", "extra"),
    [
        ("osnet_x0_25", []),
        ("resnet50_ibn_a", []),
        ("vit_small_patch16", ["model.trunk_options.patch_stride=16"]),
        ("torchvision:mobilenet_v2", []),
        ("resnet18", ["model.head=pcb", "model.parts=2", "model.part_dim=32"]),
    ],
)
def test_a_profile_trains_every_kind_of_backbone_and_head(backbone, extra, tiny_data, tmp_path):
    overrides = tiny_overrides(tiny_data, f"model.backbone='{backbone}'", "train.epochs=2", "eval.domains=['source']", *extra)
    with build_app(load_profile("strong_baseline", overrides), work_dir=str(tmp_path)) as app:
        progress = app.run()
    assert progress.epochs_done == 2 and 0.0 <= progress.last_metrics["source"].mAP <= 1.0
    assert app.container.network.model().__class__.__name__ == ("PCBNet" if "model.head=pcb" in extra else "ReidNet")

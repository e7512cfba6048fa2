"""The containers: every profile wires, Selectors match the schema, providers swap for fakes."""

from __future__ import annotations

import numpy as np
import pytest
from dependency_injector import providers

from reidkit.application.supervised_train import SupervisedTrain
from reidkit.domain.types import FeatureMatrix, PseudoLabels
from reidkit.entrypoints.clustering import ClusteringContainer
from reidkit.entrypoints.containers import CoreContainer, SupervisedContainer, build_app
from reidkit.entrypoints.settings import (
    DataSettings,
    OptimizerSettings,
    PseudoLabelerSettings,
    SchedulerSettings,
    available_profiles,
    kinds_of,
    load_profile,
)
from tests.conftest import tiny_overrides
from tests.fakes import FakeBatches, Journal, MemoryCheckpointer, RecordingObserver, RecordingStep


@pytest.mark.parametrize(
    ("selector", "union"),
    [
        (CoreContainer.pseudo_labeler, PseudoLabelerSettings),
        (ClusteringContainer.pseudo_labeler, PseudoLabelerSettings),
        (CoreContainer.domains, DataSettings),
        (SupervisedContainer.optimizer, OptimizerSettings),
        (SupervisedContainer.scheduler, SchedulerSettings),
    ],
)
def test_selector_keys_equal_the_settings_kinds(selector, union):
    assert set(selector.providers) == set(kinds_of(union))


@pytest.mark.parametrize("name", available_profiles())
def test_every_profile_builds_a_container_with_no_missing_dependency(name, tmp_path):
    app = build_app(load_profile(name), work_dir=str(tmp_path))
    app.method.check_dependencies()
    assert app.run_dir == tmp_path


@pytest.mark.parametrize(
    ("overrides", "kind"),
    [
        ([], "DbscanLabeler"),
        (["pseudo_labeler.self_paced=true"], "SelfPacedRefiner"),
        (["pseudo_labeler.kind='kmeans'", "pseudo_labeler.num_clusters=3"], "KMeansLabeler"),
        (["pseudo_labeler.kind='infomap'"], "InfomapLabeler"),
    ],
)
def test_pseudo_labeler_kind_selects_the_backend(overrides, kind, tmp_path):
    app = build_app(load_profile("demo", overrides), work_dir=str(tmp_path))
    assert type(app.core.pseudo_labeler()).__name__ == kind


class FixedLabeler:
    def __init__(self, labels):
        self.labels, self.calls = labels, 0

    def assign(self, features: FeatureMatrix) -> PseudoLabels:
        self.calls += 1
        return PseudoLabels(self.labels)


def test_clustering_backend_swaps_for_a_fake(tmp_path):
    app = build_app(load_profile("demo"), work_dir=str(tmp_path))
    fake = FixedLabeler([0, 0, 1, -1])
    with app.core.pseudo_labeler.override(providers.Object(fake)):
        labels = app.core.pseudo_labeler().assign(FeatureMatrix(np.eye(4)))
    assert fake.calls == 1 and labels.num_clusters == 2
    assert type(app.core.pseudo_labeler()).__name__ == "DbscanLabeler"  # the override is undone


def test_use_case_runs_with_faked_step_batches_and_checkpointer(tiny_data, tmp_path):
    profile = load_profile("demo", tiny_overrides(tiny_data, "train.epochs=2", "eval.domains=['target']"))
    app = build_app(profile, work_dir=str(tmp_path))
    journal = Journal()
    step = RecordingStep(journal)
    with (
        app.method.step.override(providers.Object(step)),
        app.method.batches.override(providers.Object(FakeBatches(journal, batches_per_epoch=2))),
        app.method.checkpointer.override(providers.Object(MemoryCheckpointer(journal))),
        app.method.observer.override(providers.Object(RecordingObserver(journal))),
        app,
    ):
        use_case = app.method.use_case()
        assert isinstance(use_case, SupervisedTrain)
        progress = use_case.run()
    assert step.seen == [(0, 0), (0, 1), (1, 0), (1, 1)]
    evaluated = [e for e in journal.events if e[0] == "evaluation"]
    assert [(e[1], e[2]) for e in evaluated] == [(1, "target")]  # the real encoder and evaluator ran
    assert progress.epochs_done == 2


@pytest.mark.parametrize(("overrides", "reranks"), [([], False), (["rerank.enabled=true", "rerank.k1=12"], True)])
def test_rerank_settings_reach_the_evaluator(overrides, reranks, tmp_path):
    app = build_app(load_profile("demo", overrides), work_dir=str(tmp_path))
    reranker = app.core.evaluator().reranker
    assert (reranker is not None) is reranks
    if reranks:
        assert reranker.k1 == 12

"""Every adaptation profile trains on the tiny preset with its labeler swapped through the
container, and checkpoints what its method must."""

from __future__ import annotations

import json

import pytest
from dependency_injector import providers

from reidkit.adapters.runtime.checkpoint import read_checkpoint
from reidkit.application.cluster_adapt import ClusterAdapt
from reidkit.entrypoints.settings import available_profiles, load_profile
from tests.support.fakes import KeepLabels, TruthLabeler
from tests.support.tiny import tiny_app

# every profile of a pseudo-label method (supervised training and image translation have none)
ADAPTATION = [name for name in available_profiles() if load_profile(name).method not in ("supervised", "translate")]
# what a checkpoint of a memory method holds beyond its step (a new method needs no entry here)
COMPONENTS = {"spcl": {"memory", "refiners_0"}, "cluster_contrast": {"memory"}}


@pytest.mark.slow
@pytest.mark.parametrize("name", ADAPTATION)
def test_every_adaptation_profile_trains_a_couple_of_iterations(name, tiny_data, start_models, tmp_path):
    app = tiny_app(name, tiny_data, start_models, tmp_path)
    labeler = TruthLabeler(app.container.data.train_set().train_pids)
    with (
        app.container.adaptation.labeler.override(providers.Object(labeler)),
        app.container.adaptation.refiners.override(providers.Object([])),
        app.container.adaptation.corrector.override(providers.Object(KeepLabels())),  # GLC's profiles
        app,
    ):
        use_case = app.container.use_case()
        assert isinstance(use_case, ClusterAdapt)
        progress = use_case.run()
    assert progress.epochs_done == 2
    assert labeler.calls == [64, 64]  # the swapped labeler clustered the 64 target images each epoch
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert [(e["epoch"], e["clusters"], e["outliers"]) for e in saved["pseudo_labels"]] == [(1, 15, 4), (2, 15, 4)]
    assert saved["pseudo_labels"][0]["precision"] == 1.0  # the truth labeler is scored as perfect
    assert [(e["epoch"], e["domain"]) for e in saved["evaluations"]] == [(2, "target")]
    components = read_checkpoint(tmp_path / "checkpoints" / "epoch_0002.pt")["components"]
    assert {"step"} | COMPONENTS.get(app.profile.method, set()) <= set(components)

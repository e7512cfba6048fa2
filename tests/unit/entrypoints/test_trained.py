"""A run folder as a model: the folder is checked before torch, the network is the one the run
evaluated (the method's weights, DSBN folded to the target's) and every tensor must fit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reidkit.adapters.data.batch import TARGET_DOMAIN
from reidkit.adapters.models.dsbn import DomainSpecificBatchNorm, domains
from reidkit.adapters.models.starting import starting_model
from reidkit.adapters.runtime.checkpoint import TorchCheckpointer
from reidkit.domain.errors import CheckpointError, ReidkitError
from reidkit.domain.types import TrainingProgress
from reidkit.entrypoints.settings import load_profile, profile_toml
from reidkit.entrypoints.trained import open_run, trained_network

SMALL = ["model.backbone='resnet18'", "model.last_stride=2", "input.height=64", "input.width=32"]


class _Step:
    def __init__(self, state: dict) -> None:
        self.state = state

    def state_dict(self) -> dict:
        return self.state

    def load_state_dict(self, state: dict) -> None:
        raise AssertionError("not restored here")


def _net(seed: int, dsbn: bool = False):
    torch.manual_seed(seed)
    return starting_model("resnet18", num_classes=7, last_stride=2, dsbn=dsbn)


def _run(folder: Path, profile_name: str, step_state: dict, *extra: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "profile.toml").write_text(profile_toml(load_profile(profile_name, [*SMALL, *extra])))
    TorchCheckpointer(folder / "checkpoints", {"step": _Step(step_state)}).save(TrainingProgress(epochs_done=1), is_best=True)
    return folder


def test_the_folder_is_checked_naming_what_is_missing(tmp_path):
    with pytest.raises(ReidkitError, match=r"^run folder .*absent does not exist$"):
        open_run(tmp_path / "absent")
    with pytest.raises(ReidkitError, match=r"has no profile\.toml; give the folder of a reidkit train or adapt run"):
        open_run(tmp_path)
    (tmp_path / "profile.toml").write_text(profile_toml(load_profile("strong_baseline")))
    with pytest.raises(ReidkitError, match=r"checkpoint .*best\.pt does not exist \(the run has not finished an epoch\)"):
        open_run(tmp_path)
    with pytest.raises(ReidkitError, match=r"has no checkpoints/latest"):
        open_run(tmp_path, "latest")
    with pytest.raises(ReidkitError, match=r"checkpoint elsewhere\.pt does not exist$"):
        open_run(tmp_path, "elsewhere.pt")


def test_latest_follows_the_pointer_and_settings_apply_over_the_run_profile(tmp_path):
    folder = _run(tmp_path / "run", "strong_baseline", {"model": _net(0).state_dict()})
    run = open_run(folder, "latest", ["eval.metric='cosine'"])
    assert run.checkpoint == folder / "checkpoints" / "epoch_0001.pt"
    assert run.profile.eval.metric == "cosine"
    assert run.profile.model.backbone == "resnet18"


def test_a_dsbn_network_comes_back_folded_to_the_target_bn(tmp_path):
    model = _net(0, dsbn=True)
    model.train()
    with torch.no_grad(), domains(model, [TARGET_DOMAIN] * 4):
        model(torch.randn(4, 3, 64, 32) + 1.0)  # the target's statistics differ from the source's
    folder = _run(tmp_path / "run", "strong_baseline_uda", {"model": model.state_dict()}, "model.dsbn=true")
    network = trained_network(open_run(folder))
    assert not network.training
    assert not any(isinstance(m, DomainSpecificBatchNorm) for m in network.modules())
    batch = torch.randn(3, 3, 64, 32)
    with torch.no_grad():
        torch.testing.assert_close(network(batch), model.eval()(batch))


def test_a_mean_teacher_run_gives_its_first_teacher(tmp_path):
    students, teachers = [_net(1), _net(2)], [_net(3), _net(4)]
    state = {"students": [s.state_dict() for s in students], "teachers": [t.state_dict() for t in teachers]}
    folder = _run(tmp_path / "run", "mmt_uda", state)
    network = trained_network(open_run(folder))
    batch = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        torch.testing.assert_close(network(batch), teachers[0].eval()(batch))


def test_a_profile_that_does_not_match_the_weights_is_refused(tmp_path):
    folder = _run(tmp_path / "run", "strong_baseline", {"model": _net(0).state_dict()})
    with pytest.raises(CheckpointError, match=r"best\.pt does not fit this model \(.*\); same backbone and head settings\?"):
        trained_network(open_run(folder, overrides=["model.backbone='resnet34'"]))

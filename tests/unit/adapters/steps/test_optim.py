"""build_optimizer groups and WarmupSchedule values at given epochs."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from reidkit.adapters.models.backbone import ReidNet
from reidkit.adapters.models.pooling import GlobalAveragePooling
from reidkit.adapters.steps.optim import WarmupSchedule, build_optimizer


def net() -> ReidNet:
    return ReidNet(nn.Conv2d(3, 4, 1), 4, num_classes=3, pooling=GlobalAveragePooling())


def sgd(lr: float = 0.1) -> torch.optim.Optimizer:
    return torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)


def test_bias_groups_and_frozen_parameters():
    model = net()
    opt = build_optimizer("sgd", model, lr=0.1, weight_decay=5e-4, bias_lr_factor=2.0, weight_decay_bias=0.0)
    weights, biases = opt.param_groups
    assert (weights["lr"], weights["weight_decay"], weights["momentum"]) == (0.1, 5e-4, 0.9)
    assert (biases["lr"], biases["weight_decay"]) == (0.2, 0.0)
    grouped = {id(p) for g in opt.param_groups for p in g["params"]}
    assert id(model.neck.bias) not in grouped  # BNNeck's frozen bias
    assert id(model.trunk.bias) in {id(p) for p in biases["params"]}


def test_adam_and_parameter_lists():
    opt = build_optimizer("adam", net().parameters(), lr=3.5e-4, weight_decay=5e-4)
    assert isinstance(opt, torch.optim.Adam) and len(opt.param_groups) == 1
    with pytest.raises(ValueError, match="need a module"):
        build_optimizer("adam", net().parameters(), lr=1e-3, weight_decay=0.0, bias_lr_factor=2.0)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        build_optimizer("rmsprop", net(), lr=1e-3, weight_decay=0.0)


def test_step_schedule_with_warmup():
    schedule = WarmupSchedule(sgd(0.1), kind="step", warmup_epochs=10, warmup_factor=0.01, milestones=[40, 70])
    expected = {0: 0.001, 5: 0.1 * (0.01 * 0.5 + 0.5), 10: 0.1, 39: 0.1, 40: 0.01, 69: 0.01, 70: 0.001, 119: 0.001}
    for epoch, lr in expected.items():
        schedule.set_epoch(epoch)
        assert schedule.optimizer.param_groups[0]["lr"] == pytest.approx(lr), epoch
        assert schedule.get_last_lr() == [pytest.approx(lr)]


def test_cosine_schedule_with_warmup():
    schedule = WarmupSchedule(sgd(0.1), kind="cosine", warmup_epochs=2, warmup_factor=0.1, max_epochs=12, min_lr=0.001)
    expected = {0: 0.01, 1: 0.1 * (0.1 * 0.5 + 0.5), 2: 0.1, 7: 0.001 + 0.099 * 0.5, 12: 0.001, 20: 0.001}
    for epoch, lr in expected.items():
        schedule.set_epoch(epoch)
        assert schedule.optimizer.param_groups[0]["lr"] == pytest.approx(lr), epoch
    with pytest.raises(ValueError, match="max_epochs"):
        WarmupSchedule(sgd(), kind="cosine", warmup_epochs=5, max_epochs=5)


def test_step_agrees_with_set_epoch_and_state_round_trips():
    opt = sgd()
    stepped = WarmupSchedule(opt, warmup_epochs=3, milestones=[5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither deprecated step(epoch) nor get_lr warnings
        lrs = []
        for _ in range(8):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            stepped.step()
    jumper = WarmupSchedule(sgd(), warmup_epochs=3, milestones=[5])
    for epoch, lr in enumerate(lrs):
        jumper.set_epoch(epoch)
        assert jumper.get_last_lr()[0] == pytest.approx(lr)

    restored = WarmupSchedule(sgd(), warmup_epochs=1, milestones=[2])
    restored.load_state_dict(stepped.state_dict())
    assert restored.last_epoch == stepped.last_epoch and restored.milestones == [5]


def test_schedule_scales_every_group():
    opt = build_optimizer("sgd", net(), lr=0.1, weight_decay=0.0, bias_lr_factor=2.0)
    schedule = WarmupSchedule(opt, warmup_epochs=0, milestones=[1], gamma=0.5)
    schedule.set_epoch(1)
    assert [g["lr"] for g in opt.param_groups] == [pytest.approx(0.05), pytest.approx(0.1)]


@pytest.mark.parametrize(
    "kwargs,culprit",
    [({"kind": "linear"}, "schedule"), ({"warmup_factor": 0.0}, "warmup_factor"), ({"milestones": [5, 3]}, "milestones")],
)
def test_invalid_schedules(kwargs, culprit):
    with pytest.raises(ValueError, match=culprit):
        WarmupSchedule(sgd(), **kwargs)

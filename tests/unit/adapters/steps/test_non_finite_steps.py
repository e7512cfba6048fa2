"""A step whose loss is not finite changes nothing (no optimiser step, no memory or teacher update)
and reports it; with ``skips_bad_steps`` it also puts back the BatchNorm statistics its forward pass
moved, so that a run allowed to go on past it evaluates with finite statistics."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from reidkit.adapters.data.batch import TARGET_DOMAIN, TrainingBatch
from reidkit.adapters.memory.cluster_memory import ClusterMemory
from reidkit.adapters.models.backbone import ReidNet
from reidkit.adapters.models.mean_teacher import mean_teacher_of
from reidkit.adapters.models.pooling import GlobalAveragePooling
from reidkit.adapters.steps.base import StepRuntime
from reidkit.adapters.steps.mean_teach import MeanTeachStep
from reidkit.adapters.steps.memory_contrast import MemoryContrastStep
from reidkit.adapters.steps.supervised import SupervisedStep
from reidkit.adapters.losses.weighted import id_and_triplet_losses
from reidkit.domain.types import FeatureMatrix, PseudoLabels


def tiny(seed: int) -> ReidNet:
    torch.manual_seed(seed)
    trunk = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
    return ReidNet(trunk, 8, num_classes=4, pooling=GlobalAveragePooling())


def batch(*, poisoned: bool, views: int = 1) -> TrainingBatch:
    generator = torch.Generator().manual_seed(0)
    shape = (8, views, 3, 16, 8) if views > 1 else (8, 3, 16, 8)
    images = torch.randn(*shape, generator=generator)
    if poisoned:
        images[0] = float("nan")
    return TrainingBatch.of_domain(images, torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]), torch.arange(8), TARGET_DOMAIN)


def supervised(runtime: StepRuntime):
    model = tiny(0)
    losses = id_and_triplet_losses(
        ce_weight=1.0, label_smoothing=0.1, triplet_weight=1.0, triplet_margin=0.3, soft_margin=False, triplet_on="features"
    )
    step = SupervisedStep(model, torch.optim.Adam(model.parameters(), lr=0.1), losses, runtime=runtime)
    return step, [model], 1


def memory_contrast(runtime: StepRuntime):
    model = tiny(0)
    memory = ClusterMemory(8, momentum=0.5)
    memory.reset(FeatureMatrix(torch.randn(8, 8, generator=torch.Generator().manual_seed(1)).numpy()), PseudoLabels([0, 0, 1, 1, 2, 2, 3, 3]))
    step = MemoryContrastStep(model, torch.optim.SGD(model.parameters(), lr=0.1), memory, runtime=runtime)
    return step, [model, memory], 1


def mean_teach(runtime: StepRuntime):
    students = [tiny(0), tiny(1)]
    teachers = [mean_teacher_of(s) for s in students]
    optimizer = torch.optim.SGD([p for s in students for p in s.parameters()], lr=0.1)
    return MeanTeachStep(students, teachers, optimizer, runtime=runtime), [*students, *teachers], 2


STEPS = [pytest.param(supervised, id="supervised"), pytest.param(memory_contrast, id="memory_contrast"), pytest.param(mean_teach, id="mean_teach")]


def snapshot(modules: list[nn.Module]) -> list[dict[str, torch.Tensor]]:
    return [copy.deepcopy(m.state_dict()) for m in modules]


def same(a: list[dict[str, torch.Tensor]], b: list[dict[str, torch.Tensor]]) -> bool:
    return all(x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("make", STEPS)
def test_a_non_finite_loss_applies_no_update_and_is_reported(make):
    step, modules, views = make(StepRuntime(skips_bad_steps=True))
    step.begin_epoch(0)
    before, optimizer_state = snapshot(modules), copy.deepcopy(step.optimizer.state_dict())
    report = step.run(batch(poisoned=True, views=views))
    assert report.finite is False
    assert not torch.isfinite(torch.as_tensor(float(report.losses["total"])))
    assert same(snapshot(modules), before)  # weights, memory rows, teachers and BN statistics as they were
    assert step.optimizer.state_dict()["state"] == optimizer_state["state"]
    assert all(p.grad is None for m in modules for p in m.parameters())

    assert step.run(batch(poisoned=False, views=views)).finite is True
    assert not same(snapshot(modules), before)


def test_without_skips_the_statistics_are_not_copied_and_a_bad_step_leaves_them_non_finite():
    """Why the copy exists: a run that stops at the first bad step (the default) never saves what
    that step left behind, so it need not pay for the copy."""
    step, (model,), _ = supervised(StepRuntime())
    step.begin_epoch(0)
    weights = [p.detach().clone() for p in model.parameters()]
    assert step.run(batch(poisoned=True)).finite is False
    assert all(torch.equal(p, w) for p, w in zip(model.parameters(), weights, strict=True))
    assert not torch.isfinite(model.trunk[1].running_mean).all()

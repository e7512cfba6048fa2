"""GLC's restart: the step's modules back to their weights as built, the optimiser's state gone."""

from __future__ import annotations

import torch
from torch import nn

from reidkit.adapters.steps.restart import RestartFromStart
from reidkit.domain.ports import Restartable


class TwoModuleStep:
    """What RestartFromStart reads of a step: its modules and its optimiser."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.trunk = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
        self.head = nn.Linear(3, 2)
        self.optimizer = torch.optim.Adam([*self.trunk.parameters(), *self.head.parameters()], lr=0.1)

    def step_modules(self) -> list[nn.Module]:
        return [self.trunk, self.head]

    def train_once(self) -> None:
        self.trunk.train()
        loss = self.head(self.trunk(torch.randn(8, 4))).pow(2).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()


def test_restart_puts_the_weights_and_statistics_back_and_clears_the_optimiser() -> None:
    step = TwoModuleStep()
    start = {k: v.clone() for k, v in step.trunk.state_dict().items()}
    restart = RestartFromStart(step)
    assert isinstance(restart, Restartable)
    for _ in range(3):
        step.train_once()
    assert not torch.equal(step.trunk.state_dict()["0.weight"], start["0.weight"])
    assert step.optimizer.state
    weight = step.trunk[0].weight
    restart.restart()
    for key, value in step.trunk.state_dict().items():
        assert torch.equal(value, start[key]), key
    assert step.trunk[0].weight is weight  # the same parameters: the optimiser still holds them
    assert not step.optimizer.state


def test_a_head_resized_since_the_start_is_left_for_the_label_consumers() -> None:
    step = TwoModuleStep()
    restart = RestartFromStart(step)
    step.train_once()
    with torch.no_grad():  # a classifier reset to this epoch's 5 clusters, in place as ClassifierReset does
        step.head.weight = nn.Parameter(torch.ones(5, 3))
        step.head.bias = nn.Parameter(torch.zeros(5))
    restart.restart()
    assert torch.equal(step.head.weight, torch.ones(5, 3))

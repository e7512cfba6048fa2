"""Parity with the peers' autograd memories: Cluster Contrast's CM / CM_Hard and SpCL's
HybridMemory (golden/memory, produced on CPU). One loss, its input gradient, and the memory after
the momentum update that upstream applies in backward and we apply with ``update``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from reidkit.adapters.data.batch import TARGET_DOMAIN, TrainingBatch
from reidkit.adapters.memory.cluster_memory import ClusterMemory
from reidkit.adapters.memory.hybrid_memory import HybridMemory
from reidkit.domain.types import FeatureMatrix, PseudoLabels

TOLERANCE = 1e-5


def _max_diff(ours: torch.Tensor, theirs: np.ndarray) -> float:
    return float((ours.detach() - torch.from_numpy(theirs)).abs().max())


@pytest.fixture
def memory_golden(golden: Path) -> Path:
    return golden / "memory"


@pytest.fixture
def losses(memory_golden: Path) -> dict:
    return json.loads((memory_golden / "memory_losses.json").read_text())


@pytest.mark.parametrize("rule", ["mean", "hard"])
def test_cluster_memory_matches_cluster_contrast(memory_golden: Path, losses: dict, rule: str) -> None:
    name = f"cluster_memory_{rule}"
    data = np.load(memory_golden / f"{name}.npz")
    memory = ClusterMemory(128, temperature=0.05, momentum=0.2, update=rule)
    memory.load_state_dict({"features": torch.from_numpy(data["memory_before"])})
    inputs = torch.from_numpy(data["inputs"]).requires_grad_()
    targets = torch.from_numpy(data["targets"])

    loss = memory.loss(inputs, targets)
    loss.backward()
    memory.update(inputs.detach(), targets)

    assert abs(loss.item() - losses[name]["loss"]) <= TOLERANCE
    assert abs(loss.item() - float(data["loss"])) <= TOLERANCE
    assert _max_diff(inputs.grad, data["grad_inputs"]) <= TOLERANCE
    assert _max_diff(memory.features, data["memory_after"]) <= TOLERANCE


def test_the_two_cluster_goldens_differ_only_in_the_memory(memory_golden: Path) -> None:
    """Guards the test above against a golden pair that could not tell mean from hard."""
    mean = np.load(memory_golden / "cluster_memory_mean.npz")
    hard = np.load(memory_golden / "cluster_memory_hard.npz")
    assert float(mean["loss"]) == float(hard["loss"])
    assert np.abs(mean["memory_after"] - hard["memory_after"]).max() > 1e-3


def test_hybrid_memory_matches_spcl(memory_golden: Path, losses: dict) -> None:
    data = np.load(memory_golden / "hybrid_memory.npz")
    memory = HybridMemory(128, temperature=0.05, momentum=0.2)
    memory.load_state_dict(
        {
            "features": torch.from_numpy(data["memory_before"]),
            "labels": torch.from_numpy(data["labels"]),
            "_extra_state": {"num_source_classes": 0},
        }
    )
    inputs = torch.from_numpy(data["inputs"]).requires_grad_()
    indexes = torch.from_numpy(data["indexes"])
    unlabelled = torch.full_like(indexes, -1)  # a target sample's row comes from its index alone
    batch = TrainingBatch.of_domain(torch.zeros(len(indexes), 3, 1, 1), unlabelled, indexes, TARGET_DOMAIN)
    rows = memory.targets(batch)

    loss = memory.loss(inputs, rows)
    loss.backward()
    memory.update(inputs.detach(), rows)

    assert abs(loss.item() - losses["hybrid_memory"]["loss"]) <= TOLERANCE
    assert abs(loss.item() - float(data["loss"])) <= TOLERANCE
    assert _max_diff(inputs.grad, data["grad_inputs"]) <= TOLERANCE
    assert _max_diff(memory.features, data["memory_after"]) <= TOLERANCE


def test_hybrid_reset_reproduces_the_golden_labels(memory_golden: Path) -> None:
    """The golden's labels are 150 clustered rows (0..9) then 50 singletons (10..59): exactly what
    ``reset`` makes of pseudo labels with those 50 rows marked as outliers."""
    data = np.load(memory_golden / "hybrid_memory.npz")
    memory = HybridMemory(128)
    features = FeatureMatrix(data["memory_before"])
    memory.initialize(features)
    pseudo = np.where(data["labels"] < 10, data["labels"], -1)
    memory.reset(features, PseudoLabels(pseudo))
    np.testing.assert_array_equal(memory.labels.numpy(), data["labels"])
    assert _max_diff(memory.features, data["memory_before"]) <= 1e-6

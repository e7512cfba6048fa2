"""ClusterMemory: initialize, centroid rebuild, loss, the two update rules, learnt temperature and
resizing loads."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reidkit.adapters.data.batch import TARGET_DOMAIN, TrainingBatch
from reidkit.adapters.memory.cluster_memory import ClusterMemory, hardest_per_label
from reidkit.domain.types import FeatureMatrix, PseudoLabels


def _memory(k: int = 4, d: int = 8, seed: int = 0, **kwargs) -> ClusterMemory:
    generator = torch.Generator().manual_seed(seed)
    memory = ClusterMemory(d, **kwargs)
    features = F.normalize(torch.randn(k, d, generator=generator), dim=1)
    memory.load_state_dict({"features": features}, strict=False)
    return memory


def _batch(b: int = 12, k: int = 4, d: int = 8, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(b, d, generator=generator), torch.randint(0, k, (b,), generator=generator)


def _loop_update(memory: torch.Tensor, rows: torch.Tensor, x: torch.Tensor, momentum: float) -> torch.Tensor:
    out = memory.clone()
    for row, sample in zip(rows.tolist(), x):
        out[row] = momentum * out[row] + (1 - momentum) * sample
        out[row] /= out[row].norm()
    return out


# -- initialize ---------------------------------------------------------------------------------


def test_initialize_makes_each_normalised_row_its_own_cluster():
    memory = ClusterMemory(2)
    assert not memory.initialized
    memory.initialize(FeatureMatrix([[3.0, 4.0], [0.0, -2.0], [1.0, 1.0]]))
    assert memory.initialized and memory.num_clusters == 3
    expected = [[0.6, 0.8], [0.0, -1.0], [2**-0.5, 2**-0.5]]
    np.testing.assert_allclose(memory.snapshot().values, expected, rtol=0, atol=1e-7)


def test_initialize_refuses_another_dimension_and_no_rows():
    with pytest.raises(ValueError, match="dimension 3, the memory 2"):
        ClusterMemory(2).initialize(FeatureMatrix(np.ones((4, 3))))
    with pytest.raises(ValueError, match="at least one row"):
        ClusterMemory(2).initialize(FeatureMatrix(np.ones((0, 2))))


# -- reset --------------------------------------------------------------------------------------


def test_reset_builds_normalised_centroids_ignoring_outliers():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(7, 5)).astype(np.float32)
    labels = np.array([0, 1, -1, 0, 2, 1, -1])
    memory = ClusterMemory(5)
    memory.reset(FeatureMatrix(values), PseudoLabels(labels))

    assert memory.features.shape == (3, 5)
    for c in range(3):
        mean = values[labels == c].mean(axis=0)
        np.testing.assert_allclose(memory.features[c].numpy(), mean / np.linalg.norm(mean), atol=1e-6)
    np.testing.assert_allclose(memory.features.norm(dim=1).numpy(), 1.0, atol=1e-6)


def test_a_single_member_cluster_is_that_feature_normalised():
    values = np.array([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]], dtype=np.float32)
    memory = ClusterMemory(2)
    memory.reset(FeatureMatrix(values), PseudoLabels([-1, 0, 1]))
    np.testing.assert_allclose(memory.snapshot().values, [[1.0, 0.0], [0.0, 1.0]], atol=1e-7)


def test_reset_resizes_and_keeps_the_buffer_dtype():
    memory = _memory(k=4, d=3).double()
    memory.reset(FeatureMatrix(np.eye(3, dtype=np.float32)), PseudoLabels([0, 1, 1]))
    assert memory.features.shape == (2, 3)
    assert memory.features.dtype == torch.float64
    assert memory.num_clusters == 2


@pytest.mark.parametrize(
    ("values", "labels", "match"),
    [
        (np.zeros((3, 4)), [0, 1], "differ in length"),
        (np.zeros((2, 5)), [0, 0], "dimension 5"),
    ],
)
def test_reset_rejects_bad_inputs(values, labels, match):
    with pytest.raises(ValueError, match=match):
        ClusterMemory(4).reset(FeatureMatrix(values), PseudoLabels(labels))


def test_labels_without_a_cluster_are_a_one_line_pseudo_label_error():
    from reidkit.domain.errors import PseudoLabelError

    with pytest.raises(PseudoLabelError) as caught:
        ClusterMemory(4).reset(FeatureMatrix(np.zeros((2, 4))), PseudoLabels([-1, -1]))
    assert str(caught.value) == "the pseudo labels hold no cluster (all 2 samples are outliers): nothing to build the memory from"


def test_snapshot_is_a_copy():
    memory = _memory()
    snapshot = memory.snapshot()
    memory.features.zero_()
    assert np.abs(snapshot.values).sum() > 0


# -- loss ---------------------------------------------------------------------------------------


def test_loss_is_cross_entropy_of_normalised_inputs_and_leaves_the_buffer_alone():
    memory = _memory(temperature=0.1)
    x, y = _batch()
    x.requires_grad_()
    before = memory.features.clone()
    loss = memory.loss(x, y)
    expected = F.cross_entropy(F.normalize(x, dim=1) @ before.t() / 0.1, y)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert not memory.features.requires_grad
    assert torch.equal(memory.features, before)


def test_loss_before_reset_says_so():
    with pytest.raises(RuntimeError, match="reset"):
        ClusterMemory(4).loss(torch.randn(2, 4), torch.tensor([0, 0]))


def test_targets_are_the_pseudo_labels():
    labels = torch.tensor([3, 0, 2])
    batch = TrainingBatch.of_domain(torch.zeros(3, 3, 2, 1), labels, torch.tensor([9, 8, 7]), TARGET_DOMAIN)
    targets = _memory().targets(batch)
    assert torch.equal(targets, labels) and targets.dtype == torch.long


def test_loss_and_update_refuse_inputs_of_another_dimension_or_count():
    memory = _memory(d=8)
    with pytest.raises(ValueError, match=r"inputs must be \(B, 8\) for this memory, got \(2, 5\)"):
        memory.loss(torch.randn(2, 5), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"targets must be \(2,\), one per input, got \(3,\)"):
        memory.update(torch.randn(2, 8), torch.tensor([0, 1, 2]))


def test_learnt_temperature_gets_a_gradient():
    memory = _memory(learn_temperature=True, temperature=0.07)
    assert [name for name, _ in memory.named_parameters()] == ["log_temperature"]
    assert isinstance(memory.temperature, torch.Tensor)
    torch.testing.assert_close(memory.temperature, torch.tensor(0.07))
    x, y = _batch()
    memory.loss(x, y).backward()
    assert memory.log_temperature.grad is not None and memory.log_temperature.grad.abs() > 0


def test_fixed_temperature_has_no_parameter():
    memory = _memory(temperature=0.07)
    assert list(memory.parameters()) == []
    assert memory.temperature == 0.07


# -- update -------------------------------------------------------------------------------------


def test_mean_update_equals_the_sequential_loop_with_repeated_targets():
    memory = _memory(momentum=0.3)
    x, _ = _batch(b=10)
    y = torch.tensor([2, 2, 0, 2, 1, 0, 2, 3, 3, 2])
    expected = _loop_update(memory.features, y, F.normalize(x, dim=1), 0.3)
    memory.update(x, y)
    torch.testing.assert_close(memory.features, expected, rtol=0, atol=1e-6)


def test_mean_and_hard_give_the_same_loss_but_different_memories():
    mean, hard = _memory(update="mean"), _memory(update="hard")
    x, y = _batch(b=16)
    torch.testing.assert_close(mean.loss(x, y), hard.loss(x, y))
    mean.update(x, y)
    hard.update(x, y)
    assert (mean.features - hard.features).abs().max() > 1e-3


def test_hard_update_uses_the_least_similar_member_once_per_cluster():
    memory = ClusterMemory(2, momentum=0.5, update="hard")
    memory.load_state_dict({"features": torch.tensor([[1.0, 0.0], [0.0, 1.0]])})
    x = torch.tensor([[1.0, 0.1], [1.0, 1.0], [0.1, 1.0], [1.0, 0.2]])
    y = torch.tensor([0, 0, 1, 0])
    memory.update(x, y)
    # Cluster 0: sample 1 (cosine 0.707) is the least similar; cluster 1 has only sample 2.
    xn = F.normalize(x, dim=1)
    expected = F.normalize(0.5 * torch.eye(2) + 0.5 * xn[[1, 2]], dim=1)
    torch.testing.assert_close(memory.features, expected)


def test_hardest_per_label_orders_by_first_appearance_and_breaks_ties_early():
    centroids = torch.eye(3)
    x = torch.tensor([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0], [0.0, 0.5, 0.5], [0.5, 0.5, 0.0]])
    y = torch.tensor([2, 0, 2, 2, 0])
    # label 2 first: cosines 0, 1, 0.5 -> position 0; label 0: a tie at 0.5 -> position 1.
    assert hardest_per_label(x, y, centroids).tolist() == [0, 1]


def test_update_does_not_touch_absent_clusters():
    memory = _memory(k=5)
    before = memory.features.clone()
    x, _ = _batch(b=4, k=5)
    memory.update(x, torch.tensor([1, 3, 1, 3]))
    assert torch.equal(memory.features[[0, 2, 4]], before[[0, 2, 4]])
    assert not torch.equal(memory.features[[1, 3]], before[[1, 3]])


# -- state --------------------------------------------------------------------------------------


def test_state_dict_round_trip_into_a_memory_of_another_size():
    saved = _memory(k=6, d=8, learn_temperature=True, temperature=0.2)
    buffer = io.BytesIO()
    torch.save(saved.state_dict(), buffer)
    buffer.seek(0)
    fresh = _memory(k=3, d=8, seed=5, learn_temperature=True)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    assert torch.equal(fresh.features, saved.features)
    torch.testing.assert_close(fresh.temperature, torch.tensor(0.2))


def test_state_dict_into_an_empty_memory():
    saved = _memory(k=6)
    fresh = ClusterMemory(8)
    fresh.load_state_dict(saved.state_dict())
    assert torch.equal(fresh.features, saved.features)


# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"momentum": 1.0}, "momentum"),
        ({"momentum": -0.1}, "momentum"),
        ({"update": "median"}, "update"),
        ({"feature_dim": 0}, "feature_dim"),
    ],
)
def test_constructor_validation(kwargs, match):
    arguments = {"feature_dim": 8, **kwargs}
    with pytest.raises(ValueError, match=match):
        ClusterMemory(arguments.pop("feature_dim"), **arguments)

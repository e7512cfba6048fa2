"""HybridMemory and the shared sequential momentum update."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reidkit.adapters.data.batch import TARGET_DOMAIN, TrainingBatch
from reidkit.adapters.memory.hybrid_memory import HybridMemory
from reidkit.adapters.memory.updates import momentum_update_, occurrence_rank
from reidkit.domain.types import FeatureMatrix, LabelSpace, PseudoLabels


def _features(n: int, d: int = 8, seed: int = 0) -> FeatureMatrix:
    return FeatureMatrix(np.random.default_rng(seed).normal(size=(n, d)))


def _rows(source: FeatureMatrix, target: FeatureMatrix) -> FeatureMatrix:
    """The rows a hybrid memory is initialised with: source class centroids, then target rows."""
    return FeatureMatrix(np.concatenate([source.values, target.values]))


def _memory(n: int = 10, s: int = 0, d: int = 8) -> HybridMemory:
    memory = HybridMemory(d, LabelSpace(s))
    memory.initialize(_rows(_features(s, d, seed=1), _features(n, d)))
    return memory


def _batch(labels, indexes, domains) -> TrainingBatch:
    labels = torch.as_tensor(labels)
    return TrainingBatch(torch.zeros(len(labels), 3, 2, 1), labels, torch.as_tensor(indexes), torch.as_tensor(domains))


def _target_batch(indexes) -> TrainingBatch:
    indexes = torch.as_tensor(indexes)
    return TrainingBatch.of_domain(torch.zeros(len(indexes), 3, 2, 1), torch.zeros_like(indexes), indexes, TARGET_DOMAIN)


def _spcl_nll(sims: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Upstream's epsilon-guarded softmax and log, written out."""
    p = sims.exp() / (sims.exp().sum(dim=1, keepdim=True) + 1e-6)
    return F.nll_loss(torch.log(p + 1e-6), classes)


def _loop_update(memory: torch.Tensor, rows: torch.Tensor, x: torch.Tensor, momentum: float) -> torch.Tensor:
    out = memory.clone()
    for row, sample in zip(rows.tolist(), x):
        out[row] = momentum * out[row] + (1 - momentum) * sample
        out[row] /= out[row].norm()
    return out


# -- momentum_update_ ---------------------------------------------------------------------------


def test_occurrence_rank_counts_earlier_appearances():
    rows = torch.tensor([4, 1, 4, 4, 0, 1, 7])
    assert occurrence_rank(rows).tolist() == [0, 0, 1, 2, 0, 1, 0]


@pytest.mark.parametrize("momentum", [0.0, 0.2, 0.9])
def test_momentum_update_equals_the_sequential_loop_with_repeated_rows(momentum):
    generator = torch.Generator().manual_seed(0)
    memory = F.normalize(torch.randn(6, 5, generator=generator), dim=1)
    rows = torch.tensor([3, 3, 1, 3, 0, 1, 5, 3, 0])
    x = torch.randn(9, 5, generator=generator)
    expected = _loop_update(memory, rows, x, momentum)
    momentum_update_(memory, rows, x, momentum)
    torch.testing.assert_close(memory, expected, rtol=0, atol=1e-6)


def test_momentum_update_order_matters():
    memory = torch.eye(2)
    x = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    forward, backward = memory.clone(), memory.clone()
    momentum_update_(forward, torch.tensor([0, 0]), x, 0.5)
    momentum_update_(backward, torch.tensor([0, 0]), x.flip(0), 0.5)
    assert not torch.allclose(forward, backward)


def test_momentum_update_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="disagree"):
        momentum_update_(torch.eye(3), torch.tensor([0, 1]), torch.ones(3, 3), 0.2)


# -- initialize / source centroids -------------------------------------------------------------


def test_initialize_normalises_rows_and_gives_each_its_own_class():
    memory = HybridMemory(8, LabelSpace(3))
    assert not memory.initialized and memory.num_target_rows == 0
    target, source = _features(10), _features(3, seed=1)
    memory.initialize(_rows(source, target))
    assert memory.initialized and memory.num_source_classes == 3 and memory.num_target_rows == 10
    assert memory.features.shape == (13, 8)
    np.testing.assert_allclose(memory.features.norm(dim=1).numpy(), 1.0, atol=1e-6)
    np.testing.assert_allclose(memory.features[:3].numpy(), source.normalized().values, atol=1e-6)
    np.testing.assert_allclose(memory.snapshot().values, target.normalized().values, atol=1e-6)
    assert memory.labels.tolist() == list(range(13))


def test_initialize_needs_the_source_centroids_and_a_target_row():
    memory = HybridMemory(8, LabelSpace(3))
    with pytest.raises(ValueError, match="got 3 rows: it needs the 3 source class centroids and at least one target row"):
        memory.initialize(_features(3))
    with pytest.raises(ValueError, match="got 0 rows"):
        HybridMemory(8).initialize(_features(0))
    assert not memory.initialized


def test_initialize_again_replaces_every_row():
    memory = _memory(n=6, s=2)
    memory.reset(memory.snapshot(), PseudoLabels([0, 0, 1, 1, -1, 0]))
    memory.initialize(_rows(_features(2, seed=5), _features(4, seed=6)))
    assert memory.num_target_rows == 4 and memory.labels.tolist() == list(range(6))
    np.testing.assert_allclose(memory.snapshot().values, _features(4, seed=6).normalized().values, atol=1e-6)


# -- reset --------------------------------------------------------------------------------------


def test_reset_offsets_clusters_and_makes_outliers_fresh_classes():
    memory = _memory(n=7, s=2)
    memory.reset(memory.snapshot(), PseudoLabels([1, -1, 0, 1, -1, 2, -1]))
    assert memory.labels.tolist() == [0, 1, 3, 5, 2, 3, 6, 4, 7]


def test_reset_checks_the_label_count():
    memory = _memory(n=7, s=2)
    with pytest.raises(ValueError, match=r"\(5\).*7 target rows"):
        memory.reset(_features(5), PseudoLabels([0, 0, 1, 1, -1]))


def test_reset_checks_the_dimension_and_needs_a_filled_memory():
    with pytest.raises(ValueError, match="dimension 5, the memory 8"):
        _memory(n=7, s=2).reset(_features(7, d=5), PseudoLabels(np.zeros(7)))
    with pytest.raises(RuntimeError, match="initialize"):
        HybridMemory(8).reset(_features(3), PseudoLabels([0, 0, 1]))


# -- targets ------------------------------------------------------------------------------------


def test_targets_map_source_classes_and_target_indexes_to_rows():
    memory = _memory(n=6, s=4)
    batch = _batch(labels=[3, 0, 1, 2], indexes=[5, 2, 0, 0], domains=[0, 1, 0, 1])
    assert memory.targets(batch).tolist() == [3, 6, 1, 4]
    assert memory.targets(_batch(labels=[0, 0], indexes=[5, 2], domains=[1, 1])).tolist() == [9, 6]


# -- loss / update ------------------------------------------------------------------------------


def test_loss_averages_similarities_per_class():
    memory = _memory(n=6)
    memory.reset(memory.snapshot(), PseudoLabels([0, 1, 0, -1, 1, 0]))
    x = F.normalize(torch.randn(3, 8, generator=torch.Generator().manual_seed(3)), dim=1)
    rows = torch.tensor([0, 3, 4])
    logits = x @ memory.features.t() / memory.temperature
    classes = memory.labels
    sims = torch.stack([logits[:, classes == c].mean(dim=1) for c in range(int(classes.max()) + 1)], dim=1)
    expected = _spcl_nll(sims, classes[rows])
    torch.testing.assert_close(memory.loss(x, rows), expected, rtol=0, atol=1e-5)


def test_loss_masks_classes_without_rows():
    memory = _memory(n=4)
    memory.load_state_dict({**memory.state_dict(), "labels": torch.tensor([0, 0, 3, 3])})
    x = F.normalize(torch.randn(2, 8, generator=torch.Generator().manual_seed(4)), dim=1)
    logits = x @ memory.features.t() / memory.temperature
    sims = torch.stack([logits[:, :2].mean(1), logits[:, 2:].mean(1)], dim=1)
    expected = _spcl_nll(sims, torch.tensor([0, 1]))
    torch.testing.assert_close(memory.loss(x, torch.tensor([1, 2])), expected, rtol=0, atol=1e-5)


def test_an_all_singleton_batch_has_a_finite_loss_and_updates_only_its_rows():
    memory = _memory(n=12, s=2)
    memory.reset(memory.snapshot(), PseudoLabels([0, 0, 0, -1, -1, 1, 1, -1, 1, -1, 0, 1]))
    before = memory.features.clone()
    x = F.normalize(torch.randn(4, 8, generator=torch.Generator().manual_seed(2)), dim=1).requires_grad_()
    rows = memory.targets(_target_batch([3, 4, 7, 9]))
    assert len(set(memory.labels[rows].tolist())) == 4

    loss = memory.loss(x, rows)
    assert torch.isfinite(loss)
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert torch.equal(memory.features, before)  # backward leaves the memory alone

    memory.update(x.detach(), rows)
    changed = (memory.features != before).any(dim=1).nonzero().flatten()
    assert changed.tolist() == sorted(rows.tolist())


def test_update_is_the_sequential_renormalised_update():
    memory = _memory(n=6, s=2)
    x = torch.randn(5, 8, generator=torch.Generator().manual_seed(6))
    rows = torch.tensor([4, 1, 4, 7, 4])
    expected = _loop_update(memory.features, rows, x, memory.momentum)
    memory.update(x, rows)
    torch.testing.assert_close(memory.features, expected, rtol=0, atol=1e-6)


def test_loss_before_initialize_says_so():
    with pytest.raises(RuntimeError, match="initialize"):
        HybridMemory(4).loss(torch.randn(2, 4), torch.tensor([0, 1]))


# -- state --------------------------------------------------------------------------------------


def test_state_dict_restores_everything_into_an_empty_memory():
    saved = _memory(n=9, s=3)
    saved.reset(saved.snapshot(), PseudoLabels([0, 0, -1, 1, 1, -1, 2, 2, 2]))
    buffer = io.BytesIO()
    torch.save(saved.state_dict(), buffer)
    buffer.seek(0)
    fresh = HybridMemory(8, LabelSpace(3))
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    assert fresh.initialized and fresh.num_source_classes == 3
    assert torch.equal(fresh.features, saved.features)
    assert torch.equal(fresh.labels, saved.labels)
    np.testing.assert_array_equal(fresh.snapshot().values, saved.snapshot().values)


def test_a_state_saved_for_another_source_class_count_is_refused_and_changes_nothing():
    saved = _memory(n=9, s=3).state_dict()
    fresh = _memory(n=5, s=2, d=8)
    before = fresh.features.clone()
    with pytest.raises(ValueError, match="saved HybridMemory has 3 source class rows, this run's label space 2"):
        fresh.load_state_dict(saved)
    assert torch.equal(fresh.features, before) and fresh.num_source_classes == 2
    with pytest.raises(ValueError, match="has 3 source class rows, this run's label space 0"):
        HybridMemory(8).load_state_dict(saved)


def test_loss_and_update_refuse_inputs_of_another_dimension_or_count():
    memory = _memory(n=6)
    with pytest.raises(ValueError, match=r"inputs must be \(B, 8\) for this memory, got \(2, 4\)"):
        memory.loss(torch.randn(2, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"targets must be \(2,\), one per input, got \(1,\)"):
        memory.update(torch.randn(2, 8), torch.tensor([0]))


# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"temperature": 0.0}, "temperature"), ({"momentum": 1.0}, "momentum"), ({"momentum": -0.5}, "momentum")],
)
def test_constructor_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HybridMemory(8, **kwargs)


def test_feature_dim_validation():
    with pytest.raises(ValueError, match="feature_dim"):
        HybridMemory(0)
    with pytest.raises(ValueError, match="dimension 5"):
        HybridMemory(4).initialize(_features(3, d=5))
    with pytest.raises(TypeError, match="label_space must be a LabelSpace"):
        HybridMemory(4, 3)

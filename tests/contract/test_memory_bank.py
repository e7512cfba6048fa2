"""One contract, every MemoryBank: Cluster Contrast's centroids (both update rules), SpCL's hybrid
memory (target-only and with source classes) and the distributed-update decorator in one process.

What the step, the feature sources and the epoch may rely on whatever the memory: it is empty
until filled, ``initialize`` keeps the rows normalised, ``reset`` takes the epoch's labels, the
loss trains the inputs and nothing else, ``update`` moves exactly the targeted rows towards the
inputs and keeps them unit length, a checkpoint restores it into a freshly built one, and a wrong
dimension is refused with one line instead of a matrix-product error.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from attrs import frozen

from reidkit.adapters.data.batch import TARGET_DOMAIN, TrainingBatch
from reidkit.adapters.memory.cluster_memory import ClusterMemory
from reidkit.adapters.memory.global_update import GlobalMemoryUpdate
from reidkit.adapters.memory.hybrid_memory import HybridMemory
from reidkit.adapters.runtime.collectives import ProcessGroup
from reidkit.domain.ports import MemoryBank
from reidkit.domain.types import FeatureMatrix, LabelSpace, PseudoLabels

DIM, TARGETS, CLUSTERS, SOURCE_CLASSES, MOMENTUM = 8, 12, 4, 3, 0.5


@frozen
class Case:
    """How to build one implementation and where its rows are: ``source_classes`` rows of the
    initial rows are source class centroids, left out of the snapshot; ``rows_of`` says which
    memory row (class) each sample of a batch trains towards."""

    make: Callable[[], MemoryBank]
    source_classes: int
    rows_of: Callable[[TrainingBatch], torch.Tensor]

    def snapshot_rows(self, targets: torch.Tensor) -> torch.Tensor:
        """The snapshot rows the targets are (the snapshot starts after the source classes)."""
        return targets - self.source_classes


def by_label(batch: TrainingBatch) -> torch.Tensor:
    return batch.labels


def by_index(source_classes: int) -> Callable[[TrainingBatch], torch.Tensor]:
    return lambda batch: batch.indexes + source_classes


def single(memory: MemoryBank) -> GlobalMemoryUpdate:
    return GlobalMemoryUpdate(memory, ProcessGroup(rank=0, world_size=1))


CASES: dict[str, Case] = {
    "cluster_mean": Case(lambda: ClusterMemory(DIM, momentum=MOMENTUM, update="mean"), 0, by_label),
    "cluster_hard": Case(lambda: ClusterMemory(DIM, momentum=MOMENTUM, update="hard"), 0, by_label),
    "hybrid": Case(lambda: HybridMemory(DIM, momentum=MOMENTUM), 0, by_index(0)),
    "hybrid_with_source": Case(
        lambda: HybridMemory(DIM, LabelSpace(SOURCE_CLASSES), momentum=MOMENTUM), SOURCE_CLASSES, by_index(SOURCE_CLASSES)
    ),
    "global_update_cluster_hard": Case(
        lambda: single(ClusterMemory(DIM, momentum=MOMENTUM, update="hard")), 0, by_label
    ),
    "global_update_hybrid_with_source": Case(
        lambda: single(HybridMemory(DIM, LabelSpace(SOURCE_CLASSES), momentum=MOMENTUM)),
        SOURCE_CLASSES,
        by_index(SOURCE_CLASSES),
    ),
}


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param]


def initial_rows(case: Case, seed: int = 0) -> FeatureMatrix:
    """Source class centroids (if any), then one row per target sample; neither unit length."""
    rng = np.random.default_rng(seed)
    return FeatureMatrix(rng.normal(size=(case.source_classes + TARGETS, DIM)) * 3.0)


def normalised(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values / np.linalg.norm(values, axis=1, keepdims=True)


PSEUDO = PseudoLabels(np.arange(TARGETS) % CLUSTERS)


def ready(case: Case) -> MemoryBank:
    """Filled and reset with the epoch's labels, as an epoch starts."""
    memory = case.make()
    memory.initialize(initial_rows(case))
    memory.reset(memory.snapshot(), PSEUDO)
    return memory


def batch() -> TrainingBatch:
    """Target samples 1, 6 and 3 with their pseudo labels 1, 2 and 3: distinct rows for every memory."""
    indexes = torch.tensor([1, 6, 3])
    labels = torch.tensor(PSEUDO.labels)[indexes]
    return TrainingBatch.of_domain(torch.zeros(3, 3, 4, 2), labels, indexes, TARGET_DOMAIN)


def inputs(seed: int = 1) -> torch.Tensor:
    return F.normalize(torch.randn(3, DIM, generator=torch.Generator().manual_seed(seed)), dim=1)


def leaves(tensor: torch.Tensor) -> list[torch.Tensor]:
    """The leaf tensors a result's gradient reaches."""
    found, stack, seen = [], [tensor.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if hasattr(node, "variable"):
            found.append(node.variable)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return found


# -- the contract ----------------------------------------------------------------------------------


def test_is_a_memory_bank(case):
    assert isinstance(case.make(), MemoryBank)


def test_is_empty_until_initialized_and_refuses_a_loss_meanwhile(case):
    memory = case.make()
    assert not memory.initialized
    with pytest.raises(RuntimeError, match="empty"):
        memory.loss(inputs(), torch.tensor([0, 1, 2]))
    memory.initialize(initial_rows(case))
    assert memory.initialized


def test_initialize_keeps_the_rows_normalised_and_the_snapshot_holds_those_after_the_source_classes(case):
    memory = case.make()
    rows = initial_rows(case)
    memory.initialize(rows)
    snapshot = memory.snapshot()
    assert isinstance(snapshot, FeatureMatrix) and snapshot.values.shape == (TARGETS, DIM)
    np.testing.assert_allclose(snapshot.values, normalised(rows.values)[case.source_classes :], rtol=0, atol=1e-6)
    # filling again replaces the rows
    other = initial_rows(case, seed=7)
    memory.initialize(other)
    np.testing.assert_allclose(memory.snapshot().values, normalised(other.values)[case.source_classes :], atol=1e-6)


def test_targets_are_the_rows_the_samples_train_towards(case):
    targets = ready(case).targets(batch())
    assert targets.dtype == torch.long
    assert torch.equal(targets, case.rows_of(batch()))


def test_the_loss_is_finite_prefers_the_target_rows_and_trains_the_inputs_only(case):
    memory = ready(case)
    before = memory.snapshot().values.copy()
    targets = memory.targets(batch())
    x = inputs().requires_grad_()
    loss = memory.loss(x, targets)
    assert loss.ndim == 0 and torch.isfinite(loss) and float(loss.detach()) > 0
    assert [leaf is x for leaf in leaves(loss)] == [True]  # no memory row, no other leaf
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and float(x.grad.abs().sum()) > 0
    np.testing.assert_array_equal(memory.snapshot().values, before)  # the loss moves no row
    # a sample that is its target row scores lower against that row than against another's
    at_rows = torch.from_numpy(before)[case.snapshot_rows(targets)]
    assert float(memory.loss(at_rows, targets)) < float(memory.loss(at_rows, targets.roll(1)))


def test_update_moves_exactly_the_targeted_rows_towards_the_inputs_and_keeps_them_unit_length(case):
    memory = ready(case)
    before = torch.from_numpy(memory.snapshot().values.copy())
    targets = memory.targets(batch())
    x = inputs()
    memory.update(x, targets)
    after = torch.from_numpy(memory.snapshot().values.copy())
    moved = case.snapshot_rows(targets)
    expected = F.normalize(MOMENTUM * before[moved] + (1 - MOMENTUM) * x, dim=1)
    torch.testing.assert_close(after[moved], expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(after.norm(dim=1), torch.ones(len(after)), rtol=0, atol=1e-6)
    similarity_before = (before[moved] * x).sum(dim=1)
    similarity_after = (after[moved] * x).sum(dim=1)
    assert bool((similarity_after > similarity_before).all())
    untouched = torch.ones(len(after), dtype=torch.bool)
    untouched[moved] = False
    assert torch.equal(after[untouched], before[untouched])


def test_a_checkpoint_restores_into_a_freshly_built_memory(case):
    saved = ready(case)
    saved.update(inputs(), saved.targets(batch()))
    buffer = io.BytesIO()
    torch.save(saved.state_dict(), buffer)
    buffer.seek(0)
    fresh = case.make()
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    assert fresh.initialized
    np.testing.assert_array_equal(fresh.snapshot().values, saved.snapshot().values)
    targets = fresh.targets(batch())
    assert torch.equal(targets, saved.targets(batch()))
    assert torch.equal(fresh.loss(inputs(2), targets), saved.loss(inputs(2), targets))
    fresh.update(inputs(3), targets)
    saved.update(inputs(3), targets)
    np.testing.assert_array_equal(fresh.snapshot().values, saved.snapshot().values)


def test_a_wrong_dimension_is_refused_with_one_line(case):
    memory = case.make()
    wrong = FeatureMatrix(np.ones((case.source_classes + TARGETS, DIM + 1)))
    with pytest.raises(ValueError, match=f"dimension {DIM + 1}, the memory {DIM}"):
        memory.initialize(wrong)
    assert not memory.initialized
    memory = ready(case)
    with pytest.raises(ValueError, match=f"dimension {DIM + 1}, the memory {DIM}"):
        memory.reset(FeatureMatrix(np.ones((TARGETS, DIM + 1))), PSEUDO)
    targets = memory.targets(batch())
    with pytest.raises(ValueError, match=rf"inputs must be \(B, {DIM}\) for this memory, got \(3, {DIM + 1}\)"):
        memory.loss(torch.ones(3, DIM + 1), targets)
    before = memory.snapshot().values.copy()
    with pytest.raises(ValueError, match=rf"inputs must be \(B, {DIM}\)"):
        memory.update(torch.ones(3, DIM - 1), targets)
    with pytest.raises(ValueError, match=r"targets must be \(3,\), one per input"):
        memory.update(inputs(), targets[:2])
    np.testing.assert_array_equal(memory.snapshot().values, before)

"""MemoryContrastStep: the loss is the memory's loss on the step's own forward features, the
optimiser trains the model with it, the memory moves exactly the batch's rows, DSBN routes by
the batch's domain ids, and a restored step repeats the next step bit for bit."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reidkit.adapters.data.batch import SOURCE_DOMAIN, TARGET_DOMAIN, TrainingBatch
from reidkit.adapters.memory.cluster_memory import ClusterMemory
from reidkit.adapters.memory.hybrid_memory import HybridMemory
from reidkit.adapters.models.backbone import ReidNet
from reidkit.adapters.models.dsbn import convert_dsbn, domains
from reidkit.adapters.models.pooling import GlobalAveragePooling
from reidkit.adapters.runtime.checkpoint import TorchCheckpointer
from reidkit.adapters.steps.base import StepRuntime
from reidkit.adapters.steps.memory_contrast import MemoryContrastStep
from reidkit.adapters.steps.optim import WarmupSchedule, build_optimizer
from reidkit.domain.types import FeatureMatrix, LabelSpace, PseudoLabels, TrainingProgress

DIM = 8
NUM_CLUSTERS, NUM_TARGET, NUM_SOURCE = 5, 12, 3


def tiny_model(init_seed: int = 0, *, dropout: bool = False) -> ReidNet:
    torch.manual_seed(init_seed)
    layers = [nn.Conv2d(3, DIM, 3, padding=1), nn.BatchNorm2d(DIM), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(0.5))
    return ReidNet(nn.Sequential(*layers), DIM, num_classes=0, pooling=GlobalAveragePooling())


def random_features(n: int, seed: int) -> FeatureMatrix:
    return FeatureMatrix(np.random.default_rng(seed).normal(size=(n, DIM)))


def cluster_memory(**kwargs) -> ClusterMemory:
    memory = ClusterMemory(DIM, **kwargs)
    labels = PseudoLabels(np.arange(4 * NUM_CLUSTERS) % NUM_CLUSTERS)
    memory.reset(random_features(4 * NUM_CLUSTERS, seed=1), labels)
    return memory


def hybrid_memory() -> HybridMemory:
    memory = HybridMemory(DIM, LabelSpace(NUM_SOURCE))
    source, target = random_features(NUM_SOURCE, seed=3), random_features(NUM_TARGET, seed=2)
    memory.initialize(FeatureMatrix(np.concatenate([source.values, target.values])))
    memory.reset(random_features(NUM_TARGET, seed=2), PseudoLabels(np.arange(NUM_TARGET) % 4))
    return memory


def images(n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, 3, 16, 8, generator=torch.Generator().manual_seed(seed))


def target_batch(seed: int = 0, domain: int = TARGET_DOMAIN) -> TrainingBatch:
    """Pseudo labels 0 and 2 (3 images each), target indexes 1, 4, 5, 7, 9, 10; target domain."""
    label = torch.tensor([0, 0, 0, 2, 2, 2])
    index = torch.tensor([1, 4, 5, 7, 9, 10])
    return TrainingBatch.of_domain(images(6, seed), label, index, domain)


def joint_batch(seed: int = 0) -> TrainingBatch:
    """4 source images of classes 0 and 2, then the target batch."""
    source = TrainingBatch.of_domain(
        images(4, seed + 100), torch.tensor([0, 0, 2, 2]), torch.tensor([3, 8, 20, 21]), SOURCE_DOMAIN
    )
    return TrainingBatch.concat([source, target_batch(seed)])


def make_step(memory, model: ReidNet | None = None, *, seed: int = 0, schedule: bool = False, amp: bool = False):
    model = model if model is not None else tiny_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = WarmupSchedule(optimizer, warmup_epochs=2, warmup_factor=0.5, milestones=[3]) if schedule else None
    return MemoryContrastStep(model, optimizer, memory, scheduler=scheduler, runtime=StepRuntime(amp=amp, seed=seed))


def expected_step(step: MemoryContrastStep, batch: TrainingBatch):
    """What one step should do, replayed on copies: the memory's loss on the normalised post-neck
    embeddings of the current weights, an SGD step with its gradient, then the memory update with
    those same (pre-step) features."""
    model, memory = copy.deepcopy(step.model), copy.deepcopy(step.memory)
    optimizer = torch.optim.SGD(model.parameters(), lr=step.optimizer.param_groups[0]["lr"])
    with domains(model, batch.domains):
        features = F.normalize(model(batch.images).embeddings, dim=1)
    rows = memory.targets(batch)
    loss = memory.loss(features, rows)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    memory.update(features.detach(), rows)
    return loss.detach(), model, memory


def same_state(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa if isinstance(sa[k], torch.Tensor))


def changed_rows(before: torch.Tensor, after: torch.Tensor) -> set[int]:
    return set(torch.nonzero((before != after).any(dim=1)).flatten().tolist())


# -- one step ----------------------------------------------------------------------------------


@pytest.mark.parametrize("memory_kind", ["cluster", "hybrid"])
def test_report_has_the_contrast_loss_as_total_and_the_batch_size(memory_kind):
    memory = cluster_memory() if memory_kind == "cluster" else hybrid_memory()
    step = make_step(memory)
    step.begin_epoch(0)
    report = step.run(target_batch())
    assert set(report.losses) == {"contrast", "total"}
    for value in report.losses.values():
        assert isinstance(value, torch.Tensor) and value.ndim == 0 and not value.requires_grad
        assert torch.isfinite(value)
    assert torch.equal(report.losses["contrast"], report.losses["total"])
    assert report.batch_size == 6
    assert report.lr == pytest.approx(0.1)
    assert step.model.training


@pytest.mark.parametrize("memory_kind", ["cluster", "hybrid"])
def test_step_changes_the_model_parameters(memory_kind):
    memory = cluster_memory() if memory_kind == "cluster" else hybrid_memory()
    step = make_step(memory)
    before = copy.deepcopy(step.model)
    step.begin_epoch(0)
    step.run(target_batch())
    conv_before, conv_after = before.trunk[0].weight, step.model.trunk[0].weight
    assert not torch.equal(conv_before, conv_after)
    assert not torch.equal(before.neck.weight, step.model.neck.weight)


@pytest.mark.parametrize("memory_kind", ["cluster", "hybrid"])
def test_loss_update_and_memory_match_a_replay_with_the_initial_weights(memory_kind):
    memory = cluster_memory() if memory_kind == "cluster" else hybrid_memory()
    step = make_step(memory)
    step.begin_epoch(0)
    batch = target_batch()
    expected_loss, expected_model, expected_memory = expected_step(step, batch)
    report = step.run(batch)
    torch.testing.assert_close(report.losses["contrast"], expected_loss, rtol=1e-6, atol=1e-6)
    # the memory was updated from the features of the forward pass, not recomputed after the step
    torch.testing.assert_close(step.memory.features, expected_memory.features, rtol=0, atol=1e-6)
    for (name, got), (_, want) in zip(step.model.named_parameters(), expected_model.named_parameters()):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6, msg=name)


def test_cluster_memory_changes_exactly_the_rows_of_the_batch_labels():
    memory = cluster_memory()
    before = memory.features.clone()
    step = make_step(memory)
    step.begin_epoch(0)
    step.run(target_batch())
    assert changed_rows(before, memory.features) == {0, 2}
    assert memory.num_clusters == NUM_CLUSTERS


def test_hybrid_memory_changes_exactly_the_target_rows_of_the_batch_indexes():
    memory = hybrid_memory()
    before = memory.features.clone()
    step = make_step(memory)
    step.begin_epoch(0)
    step.run(target_batch())
    assert changed_rows(before, memory.features) == {NUM_SOURCE + i for i in (1, 4, 5, 7, 9, 10)}


def test_hybrid_memory_changes_source_class_rows_and_target_instance_rows_of_a_joint_batch():
    memory = hybrid_memory()
    before = memory.features.clone()
    model = tiny_model()
    convert_dsbn(model)
    step = make_step(memory, model)
    step.begin_epoch(0)
    step.run(joint_batch())
    # source rows by class label (0 and 2), target rows by index, whatever the source indexes were
    assert changed_rows(before, memory.features) == {0, 2} | {NUM_SOURCE + i for i in (1, 4, 5, 7, 9, 10)}


def test_a_learnt_temperature_trains_when_the_optimiser_holds_it():
    memory = cluster_memory(learn_temperature=True)
    model = tiny_model()
    optimizer = torch.optim.SGD([*model.parameters(), *memory.parameters()], lr=0.1)
    step = MemoryContrastStep(model, optimizer, memory)
    before = memory.log_temperature.detach().clone()
    step.begin_epoch(0)
    step.run(target_batch())
    assert not torch.equal(before, memory.log_temperature.detach())


def test_amp_on_cpu_runs_in_bfloat16_and_keeps_the_memory_in_float32():
    memory = cluster_memory()
    step = make_step(memory, amp=True)
    step.begin_epoch(0)
    report = step.run(target_batch())
    assert torch.isfinite(report.losses["total"])
    assert memory.features.dtype == torch.float32
    norms = memory.features.norm(dim=1)
    torch.testing.assert_close(norms, torch.ones_like(norms))


# -- DSBN ------------------------------------------------------------------------------------------


def batchnorm_stats(model: ReidNet, domain: int) -> list[torch.Tensor]:
    return [
        model.trunk[1].bns[domain].running_mean.clone(),
        model.trunk[1].bns[domain].running_var.clone(),
        model.neck.bns[domain].running_mean.clone(),
        model.neck.bns[domain].running_var.clone(),
    ]


def all_differ(before: list[torch.Tensor], after: list[torch.Tensor]) -> bool:
    return all(not torch.equal(a, b) for a, b in zip(before, after))


def all_same(before: list[torch.Tensor], after: list[torch.Tensor]) -> bool:
    return all(torch.equal(a, b) for a, b in zip(before, after))


def test_dsbn_statistics_change_only_for_the_domains_in_the_batch():
    model = tiny_model()
    convert_dsbn(model)
    step = make_step(hybrid_memory(), model)
    step.begin_epoch(0)
    source0, target0 = batchnorm_stats(model, 0), batchnorm_stats(model, 1)

    step.run(target_batch())  # target only
    source1, target1 = batchnorm_stats(model, 0), batchnorm_stats(model, 1)
    assert all_same(source0, source1)
    assert all_differ(target0, target1)

    step.run(joint_batch(seed=1))  # both domains
    source2, target2 = batchnorm_stats(model, 0), batchnorm_stats(model, 1)
    assert all_differ(source1, source2)
    assert all_differ(target1, target2)


def test_dsbn_source_only_batch_leaves_the_target_statistics_alone():
    model = tiny_model()
    convert_dsbn(model)
    step = make_step(hybrid_memory(), model)
    step.begin_epoch(0)
    batch = target_batch(domain=SOURCE_DOMAIN)  # now source rows: memory rows = labels
    source0, target0 = batchnorm_stats(model, 0), batchnorm_stats(model, 1)
    step.run(batch)
    assert all_differ(source0, batchnorm_stats(model, 0))
    assert all_same(target0, batchnorm_stats(model, 1))


def test_dsbn_step_matches_the_replay_on_a_joint_batch():
    model = tiny_model()
    convert_dsbn(model)
    step = make_step(hybrid_memory(), model)
    step.begin_epoch(0)
    batch = joint_batch()
    expected_loss, expected_model, expected_memory = expected_step(step, batch)
    report = step.run(batch)
    torch.testing.assert_close(report.losses["total"], expected_loss, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(step.memory.features, expected_memory.features, rtol=0, atol=1e-6)
    got, want = step.model.state_dict(), expected_model.state_dict()
    assert got.keys() == want.keys()
    for name in got:  # per-domain BN weights and running statistics included
        torch.testing.assert_close(got[name], want[name], rtol=1e-5, atol=1e-6, msg=name)


def test_dsbn_model_refuses_domain_ids_it_has_no_batchnorm_for():
    # A TrainingBatch always carries domain ids (a batch without them no longer exists); the ids
    # reach the DSBN router, which refuses one outside its domains before anything is trained.
    model = tiny_model()
    convert_dsbn(model)
    step = make_step(cluster_memory(), model)
    step.begin_epoch(0)
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(ValueError, match=r"domain ids must be in \[0, 2\), got values from 2 to 2"):
        step.run(target_batch(domain=2))
    assert all(torch.equal(before[name], value) for name, value in model.state_dict().items())


# -- determinism and resuming -------------------------------------------------------------------


def run_epoch(step: MemoryContrastStep, epoch: int, steps: int = 2) -> list[torch.Tensor]:
    step.begin_epoch(epoch)
    return [step.run(target_batch(seed=10 * epoch + i)).losses["total"] for i in range(steps)]


def test_same_seed_repeats_dropout_and_another_seed_does_not():
    a = make_step(cluster_memory(), tiny_model(dropout=True), seed=3)
    b = make_step(cluster_memory(), tiny_model(dropout=True), seed=3)
    c = make_step(cluster_memory(), tiny_model(dropout=True), seed=4)
    losses_a = run_epoch(a, 1)
    torch.rand(50)
    losses_b = run_epoch(b, 1)
    losses_c = run_epoch(c, 1)
    assert all(torch.equal(x, y) for x, y in zip(losses_a, losses_b))
    assert not all(torch.equal(x, y) for x, y in zip(losses_a, losses_c))


@pytest.mark.parametrize("memory_kind", ["cluster", "hybrid"])
def test_checkpoint_round_trip_repeats_the_next_epoch_exactly(tmp_path, memory_kind):
    def new_memory(filled: bool):
        if memory_kind == "cluster":
            return cluster_memory() if filled else ClusterMemory(DIM)
        return hybrid_memory() if filled else HybridMemory(DIM, LabelSpace(NUM_SOURCE))

    original = make_step(new_memory(True), tiny_model(0, dropout=True), seed=7, schedule=True)
    run_epoch(original, 0)
    TorchCheckpointer(tmp_path, {"step": original, "memory": original.memory}).save(
        TrainingProgress(epochs_done=1), is_best=False
    )
    expected = run_epoch(original, 1)

    # a fresh run: other initial weights, an empty memory, a disturbed global RNG
    resumed = make_step(new_memory(False), tiny_model(1, dropout=True), seed=7, schedule=True)
    assert not same_state(resumed.model, original.model)
    assert TorchCheckpointer(tmp_path, {"step": resumed, "memory": resumed.memory}).restore().epochs_done == 1
    torch.rand(100)
    got = run_epoch(resumed, 1)

    assert all(torch.equal(x, y) for x, y in zip(expected, got))
    assert same_state(resumed.model, original.model)
    assert torch.equal(resumed.memory.features, original.memory.features)
    assert resumed.optimizer.param_groups[0]["lr"] == original.optimizer.param_groups[0]["lr"]


def test_state_dict_round_trip_without_checkpointer_gives_identical_next_step():
    original = make_step(cluster_memory(), tiny_model(0, dropout=True), seed=1, schedule=True)
    run_epoch(original, 0)
    step_state = copy.deepcopy(original.state_dict())
    memory_state = copy.deepcopy(original.memory.state_dict())
    resumed = make_step(ClusterMemory(DIM), tiny_model(2, dropout=True), seed=1, schedule=True)
    resumed.load_state_dict(step_state)
    resumed.memory.load_state_dict(memory_state)
    assert all(torch.equal(x, y) for x, y in zip(run_epoch(original, 1), run_epoch(resumed, 1)))


def test_state_dict_carries_the_schedule_and_loading_without_it_fails():
    step = make_step(cluster_memory(), schedule=True)
    state = step.state_dict()
    assert {"model", "optimizer", "scheduler"} <= set(state)
    del state["scheduler"]
    with pytest.raises(KeyError, match="scheduler"):
        step.load_state_dict(state)
    assert "scheduler" not in make_step(cluster_memory()).state_dict()


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0", None])
def test_bad_seed_is_rejected(seed):
    with pytest.raises(ValueError, match="seed"):
        make_step(cluster_memory(), seed=seed)


def test_optimizer_from_build_optimizer_skips_the_frozen_neck_bias_and_still_trains():
    model = tiny_model()
    optimizer = build_optimizer("adam", model, lr=1e-2, weight_decay=5e-4)
    step = MemoryContrastStep(model, optimizer, cluster_memory())
    bias_before = model.neck.bias.detach().clone()
    weight_before = model.trunk[0].weight.detach().clone()
    step.begin_epoch(0)
    step.run(target_batch())
    assert torch.equal(model.neck.bias, bias_before)
    assert not torch.equal(model.trunk[0].weight, weight_before)

"""TranslationStep (CycleGAN, and SPGAN with its Siamese metric): each optimiser moves its own
networks only, the generators train every ``generator_every``-th iteration, SPGAN's metric joins
on its schedule, a non-finite loss changes nothing, a checkpoint resumes exactly, and CycleGAN's
linear decay sets every optimiser's rate from its base rate."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from torch import nn

from reidkit.adapters.data.batch import SOURCE_DOMAIN, TARGET_DOMAIN, TrainingBatch
from reidkit.adapters.steps.base import StepRuntime
from reidkit.adapters.steps.translation import (
    CycleGenerators,
    CycleWeights,
    DomainDiscriminators,
    LinearDecay,
    SiameseMetric,
    TranslationStep,
)
from reidkit.adapters.translation.image_pool import ImagePool
from reidkit.adapters.translation.networks import MetricNet, PatchDiscriminator, ResnetGenerator, init_gan_weights

SIZE = 64  # MetricNet's smallest input
GENERATOR_PARTS = {"gan", "cycle", "identity"}


def build(
    *,
    spgan: bool = False,
    generator_every: int = 1,
    schedule: LinearDecay | None = None,
    weights: CycleWeights = CycleWeights(),
    lrs: tuple[float, float, float] = (2e-3, 2e-3, 2e-3),
    pool_size: int = 2,
    trains_from: int = 1,
    guides_from: int = 2,
) -> TranslationStep:
    """A tiny CycleGAN (or SPGAN) step; two calls with the same arguments build identical steps."""
    nets = [ResnetGenerator(blocks=1, width=4), ResnetGenerator(blocks=1, width=4)]
    nets += [PatchDiscriminator(layers=2, width=4), PatchDiscriminator(layers=2, width=4)]
    for seed, net in enumerate(nets):
        init_gan_weights(net, seed=seed)
    generators = CycleGenerators(nets[0], nets[1])
    discriminators = DomainDiscriminators(nets[2], nets[3])
    runtime = StepRuntime(seed=7)
    metric = None
    if spgan:
        net = MetricNet(height=SIZE, width=SIZE, dim=8)
        init_gan_weights(net, seed=9)
        metric = SiameseMetric(
            net,
            torch.optim.Adam(net.parameters(), lr=lrs[2], betas=(0.5, 0.999)),
            runtime=runtime,
            trains_from=trains_from,
            guides_from=guides_from,
        )
    return TranslationStep(
        generators,
        discriminators,
        generator_optimizer=torch.optim.Adam(generators.parameters(), lr=lrs[0], betas=(0.5, 0.999)),
        discriminator_optimizer=torch.optim.Adam(discriminators.parameters(), lr=lrs[1], betas=(0.5, 0.999)),
        pools=(ImagePool(pool_size, seed=1), ImagePool(pool_size, seed=2)),
        weights=weights,
        metric=metric,
        schedule=schedule,
        generator_every=generator_every,
        runtime=runtime,
    )


def joint_batch(seed: int = 0, *, n: int = 2, poisoned: bool = False) -> TrainingBatch:
    """n source rows (reddish) then n target rows (bluish), in [-1, 1]."""
    generator = torch.Generator().manual_seed(seed)
    images = (0.4 * torch.randn(2 * n, 3, SIZE, SIZE, generator=generator)).clamp(-1, 1)
    images[:n, 0] = (images[:n, 0] + 0.5).clamp(-1, 1)
    images[n:, 2] = (images[n:, 2] + 0.5).clamp(-1, 1)
    if poisoned:
        images[0, 0, 0, 0] = float("nan")
    domains = torch.tensor([SOURCE_DOMAIN] * n + [TARGET_DOMAIN] * n)
    return TrainingBatch(images, torch.arange(2 * n), torch.arange(2 * n), domains)


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def same(module: nn.Module, before: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(p, before[name]) for name, p in module.named_parameters())


def moved(module: nn.Module, before: dict[str, torch.Tensor]) -> bool:
    """Every weight (conv / linear kernels: every one gets a gradient) changed; biases before an
    instance norm get none, so they are left out."""
    weights = [(name, p) for name, p in module.named_parameters() if p.dim() > 1]
    assert weights
    return all(not torch.equal(p, before[name]) for name, p in weights)


def networks(step: TranslationStep) -> dict[str, nn.Module]:
    nets = {
        "to_target": step.generators.to_target,
        "to_source": step.generators.to_source,
        "d_target": step.discriminators.target,
        "d_source": step.discriminators.source,
    }
    if isinstance(step.metric, SiameseMetric):
        nets["metric"] = step.metric.net
    return nets


def snapshots(step: TranslationStep) -> dict[str, dict[str, torch.Tensor]]:
    return {name: snapshot(net) for name, net in networks(step).items()}


def floats(report) -> dict[str, float]:  # noqa: ANN001 - a StepReport
    return {name: float(value) for name, value in report.losses.items()}


def check_total(report) -> None:  # noqa: ANN001
    losses = floats(report)
    parts = sum(value for name, value in losses.items() if name != "total")
    assert losses["total"] == pytest.approx(parts, rel=1e-5)


# -- one step -------------------------------------------------------------------------------------


def test_one_cyclegan_step_moves_both_generators_and_both_discriminators():
    step = build()
    step.begin_epoch(0)
    before = snapshots(step)
    report = step.run(joint_batch())
    assert report.finite is True
    assert set(report.losses) == {"gan", "cycle", "identity", "discriminator", "total"}
    check_total(report)
    assert all(torch.isfinite(torch.as_tensor(v)) for v in report.losses.values())
    assert report.batch_size == 4
    assert report.lr == pytest.approx(2e-3)
    for name, net in networks(step).items():
        assert moved(net, before[name]), name


def test_one_spgan_step_late_enough_moves_every_network_metric_included():
    step = build(spgan=True, trains_from=1, guides_from=2)
    step.begin_epoch(2)
    before = snapshots(step)
    report = step.run(joint_batch())
    assert report.finite is True
    assert set(report.losses) == {"gan", "cycle", "identity", "metric_g", "metric", "discriminator", "total"}
    check_total(report)
    assert set(networks(step)) == {"to_target", "to_source", "d_target", "d_source", "metric"}
    for name, net in networks(step).items():
        assert moved(net, before[name]), name


def test_without_identity_weight_the_report_has_no_identity_loss():
    step = build(weights=CycleWeights(identity=0.0))
    step.begin_epoch(0)
    report = step.run(joint_batch())
    assert set(report.losses) == {"gan", "cycle", "discriminator", "total"}
    check_total(report)


# -- generator_every --------------------------------------------------------------------------------


def test_generator_every_two_trains_the_generators_on_every_second_iteration_only():
    step = build(generator_every=2)
    step.begin_epoch(0)
    before = snapshots(step)
    first = step.run(joint_batch(0))
    assert set(first.losses) == {"discriminator", "total"}
    check_total(first)
    assert first.finite is True
    # The discriminators' loss moved the discriminators only.
    assert same(step.generators.to_target, before["to_target"])
    assert same(step.generators.to_source, before["to_source"])
    assert moved(step.discriminators.target, before["d_target"])
    assert moved(step.discriminators.source, before["d_source"])

    second = step.run(joint_batch(1))
    assert GENERATOR_PARTS <= set(second.losses)  # iterations 2, 4, ... (from 1) train the generators
    third = step.run(joint_batch(2))
    assert "gan" not in third.losses


def test_generator_every_count_restarts_at_each_epoch():
    step = build(generator_every=2)
    step.begin_epoch(0)
    step.run(joint_batch(0))  # iteration 1: discriminators only
    step.begin_epoch(1)  # a new epoch counts from 1 again, although the last one was iteration 1
    before = snapshots(step)
    report = step.run(joint_batch(1))
    assert "gan" not in report.losses
    assert same(step.generators.to_target, before["to_target"])

    step.begin_epoch(2)
    step.run(joint_batch(2))
    before = snapshots(step)
    report = step.run(joint_batch(3))  # second iteration of epoch 2
    assert GENERATOR_PARTS <= set(report.losses)
    assert moved(step.generators.to_target, before["to_target"])
    assert moved(step.generators.to_source, before["to_source"])


# -- SPGAN's schedule -----------------------------------------------------------------------------


def test_siamese_metric_trains_from_its_epoch_and_guides_the_generators_from_the_next():
    for epoch, expected in [(0, set()), (1, {"metric"}), (2, {"metric", "metric_g"}), (3, {"metric", "metric_g"})]:
        step = build(spgan=True, trains_from=1, guides_from=2)
        step.begin_epoch(epoch)
        before = snapshot(step.metric.net)
        report = step.run(joint_batch())
        assert set(report.losses) & {"metric", "metric_g"} == expected, epoch
        check_total(report)
        if "metric" in expected:
            assert moved(step.metric.net, before), epoch
        else:
            assert same(step.metric.net, before), epoch
        assert all(p.requires_grad for p in step.metric.net.parameters())


def test_the_metric_loss_does_not_move_the_generators():
    # Epoch 1: the metric trains but does not guide; with generator_every=2 the first iteration
    # runs the metric and the discriminators only.
    step = build(spgan=True, generator_every=2, trains_from=0, guides_from=5)
    step.begin_epoch(1)
    before = snapshots(step)
    report = step.run(joint_batch(0))
    assert set(report.losses) == {"metric", "discriminator", "total"}
    assert same(step.generators.to_target, before["to_target"])
    assert same(step.generators.to_source, before["to_source"])
    assert moved(step.metric.net, before["metric"])


def test_the_generators_metric_loss_does_not_move_the_metric_network():
    # guides_from before trains_from: at epoch 0 the generators use the metric, which does not train.
    step = build(spgan=True, trains_from=3, guides_from=0)
    step.begin_epoch(0)
    before = snapshots(step)
    report = step.run(joint_batch())
    assert "metric_g" in report.losses and "metric" not in report.losses
    assert same(step.metric.net, before["metric"])
    assert moved(step.generators.to_target, before["to_target"])


# -- each loss moves its own networks ----------------------------------------------------------------


def test_the_generators_loss_does_not_reach_the_discriminators():
    """The discriminators' update is the same whether or not the generators' adversarial loss
    (which runs through the discriminators) is weighted: it takes no gradient from it."""
    results = []
    for weights in (CycleWeights(gan=1.0, cycle=10.0, identity=0.5), CycleWeights(gan=0.0, cycle=0.0, identity=0.0)):
        step = build(weights=weights)
        step.begin_epoch(0)
        report = step.run(joint_batch())
        results.append((float(report.losses["discriminator"]), snapshot(step.discriminators)))
    (loss_a, d_a), (loss_b, d_b) = results
    assert loss_a == loss_b
    assert d_a.keys() == d_b.keys()
    assert all(torch.equal(d_a[name], d_b[name]) for name in d_a)


def test_the_discriminators_are_left_trainable_and_the_generators_train_on_the_next_iteration():
    step = build()
    step.begin_epoch(0)
    step.run(joint_batch(0))
    assert all(p.requires_grad for p in step.discriminators.parameters())
    assert all(p.requires_grad for p in step.generators.parameters())


def test_discriminator_lr_zero_leaves_them_unchanged_but_the_generators_train():
    step = build(lrs=(2e-3, 0.0, 2e-3))
    step.begin_epoch(0)
    before = snapshots(step)
    step.run(joint_batch())
    assert same(step.discriminators.target, before["d_target"])
    assert same(step.discriminators.source, before["d_source"])
    assert moved(step.generators.to_target, before["to_target"])


# -- non-finite losses --------------------------------------------------------------------------------


@pytest.mark.parametrize("spgan", [False, True], ids=["cyclegan", "spgan"])
def test_a_non_finite_loss_changes_no_network_and_no_optimizer(spgan):
    step = build(spgan=spgan, trains_from=0, guides_from=0)
    step.begin_epoch(0)
    assert step.run(joint_batch(0)).finite is True  # the optimisers now have state
    before = snapshots(step)
    optimizers = [copy.deepcopy(o.state_dict()) for o in step._optimizers()]
    assert len(optimizers) == (3 if spgan else 2)

    report = step.run(joint_batch(1, poisoned=True))
    assert report.finite is False
    assert not torch.isfinite(torch.as_tensor(report.losses["total"]))
    for name, net in networks(step).items():
        assert same(net, before[name]), name
    for saved, optimizer in zip(optimizers, step._optimizers(), strict=True):
        assert_same_state(saved, optimizer.state_dict())
    # No gradient is left behind for a later step to apply.
    assert all(p.grad is None for net in networks(step).values() for p in net.parameters())


def test_a_nan_generator_weight_is_a_non_finite_step_that_changes_nothing_else():
    step = build()
    step.begin_epoch(0)
    step.run(joint_batch(0))
    with torch.no_grad():
        next(step.generators.to_target.parameters()).view(-1)[0] = float("nan")
    before = snapshots(step)
    optimizers = [copy.deepcopy(o.state_dict()) for o in step._optimizers()]
    report = step.run(joint_batch(1))
    assert report.finite is False
    for name, net in networks(step).items():
        for n, p in net.named_parameters():  # torch.equal is False on NaN: compare with NaN equal to NaN
            assert torch.equal(p.isnan(), before[name][n].isnan()), (name, n)
            assert torch.equal(p.nan_to_num(), before[name][n].nan_to_num()), (name, n)
    for saved, optimizer in zip(optimizers, step._optimizers(), strict=True):
        assert_same_state(saved, optimizer.state_dict())


def assert_same_state(a: object, b: object) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for key in a:
            assert_same_state(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same_state(x, y)
    else:
        assert a == b


# -- checkpoints -----------------------------------------------------------------------------------------


def test_a_restored_step_continues_exactly_like_the_uninterrupted_one():
    settings = dict(spgan=True, trains_from=0, guides_from=1, pool_size=2)
    saved, uninterrupted = build(**settings), build(**settings)
    for step in (saved, uninterrupted):
        step.begin_epoch(0)
        step.run(joint_batch(0))
    buffer = io.BytesIO()
    torch.save(saved.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=False)
    assert {"generators", "discriminators", "generator_optimizer", "discriminator_optimizer",
            "target_pool", "source_pool", "metric_net", "metric_optimizer"} <= set(state)
    assert len(state["target_pool"]["images"]) == 2  # the pools are full: the next draws are random

    restored = build(**settings)
    restored.load_state_dict(state)
    for name in ("target_pool", "source_pool"):
        assert_same_state(getattr(restored, name).state_dict(), getattr(uninterrupted, name).state_dict())

    reports = []
    for step in (uninterrupted, restored):
        step.begin_epoch(1)
        reports.append(floats(step.run(joint_batch(1))))
        step.run(joint_batch(2))
    assert set(reports[0]) == {"gan", "cycle", "identity", "metric_g", "metric", "discriminator", "total"}
    assert reports[0] == reports[1]
    for name, net in networks(uninterrupted).items():
        assert same(networks(restored)[name], snapshot(net)), name
    assert_same_state(restored.state_dict(), uninterrupted.state_dict())


def test_a_step_restored_without_its_pools_would_not_continue_exactly():
    """The counterpart of the test above: the pools' contents matter to the next iteration."""
    settings = dict(pool_size=2)
    saved, uninterrupted = build(**settings), build(**settings)
    for step in (saved, uninterrupted):
        step.begin_epoch(0)
        step.run(joint_batch(0))
    state = saved.state_dict()
    restored = build(**settings)
    restored.load_state_dict(state)
    restored.target_pool, restored.source_pool = ImagePool(2, seed=1), ImagePool(2, seed=2)
    losses = []
    for step in (uninterrupted, restored):
        step.begin_epoch(1)
        losses.append([float(step.run(joint_batch(s)).losses["discriminator"]) for s in (1, 2, 3)])
    assert losses[0] != losses[1]


def test_loading_a_state_without_the_pools_is_a_key_error():
    step = build()
    state = step.state_dict()
    del state["source_pool"]
    with pytest.raises(KeyError, match="source_pool"):
        build().load_state_dict(state)


# -- the learning-rate schedule ------------------------------------------------------------------------


def test_linear_decay_factors():
    assert [LinearDecay(4, 2).factor(e) for e in range(4)] == pytest.approx([1.0, 1.0, 2 / 3, 1 / 3])
    assert [LinearDecay(4, 0).factor(e) for e in range(4)] == [1.0] * 4
    assert [LinearDecay(3, 3).factor(e) for e in range(3)] == pytest.approx([3 / 4, 2 / 4, 1 / 4])
    with pytest.raises(ValueError, match="decay_epochs"):
        LinearDecay(4, 5)
    with pytest.raises(ValueError):
        LinearDecay(0)
    with pytest.raises(ValueError):
        LinearDecay(4, -1)


def test_the_step_puts_factor_times_base_rate_on_every_optimizer_each_epoch():
    base = (2e-3, 1e-3, 5e-4)
    step = build(spgan=True, schedule=LinearDecay(4, 2), lrs=base)
    optimizers = step._optimizers()
    assert len(optimizers) == 3 and optimizers[2] is step.metric.optimizer

    def rates() -> list[float]:
        return [o.param_groups[0]["lr"] for o in optimizers]

    # Out of order and repeated: each epoch's rate derives from the base rate, never compounds.
    for epoch, factor in [(3, 1 / 3), (2, 2 / 3), (2, 2 / 3), (3, 1 / 3), (0, 1.0), (1, 1.0)]:
        step.begin_epoch(epoch)
        assert rates() == pytest.approx([lr * factor for lr in base]), epoch
    step.begin_epoch(3)
    report = step.run(joint_batch())
    assert report.lr == pytest.approx(base[0] / 3)


def test_without_a_schedule_the_rates_stay():
    step = build(lrs=(2e-3, 1e-3, 5e-4))
    step.begin_epoch(5)
    assert [o.param_groups[0]["lr"] for o in step._optimizers()] == [2e-3, 1e-3]


# -- validation ----------------------------------------------------------------------------------------


def _parts():
    generators = CycleGenerators(ResnetGenerator(blocks=1, width=4), ResnetGenerator(blocks=1, width=4))
    discriminators = DomainDiscriminators(PatchDiscriminator(layers=2, width=4), PatchDiscriminator(layers=2, width=4))
    return dict(
        generators=generators,
        discriminators=discriminators,
        generator_optimizer=torch.optim.Adam(generators.parameters()),
        discriminator_optimizer=torch.optim.Adam(discriminators.parameters()),
    )


def test_constructor_validation():
    parts = _parts()
    with pytest.raises(ValueError, match="generator_every"):
        TranslationStep(**parts, pools=(ImagePool(1), ImagePool(1)), generator_every=0)
    for pools in [(ImagePool(1),), (ImagePool(1), ImagePool(1), ImagePool(1))]:
        with pytest.raises(ValueError, match="pools"):
            TranslationStep(**parts, pools=pools)  # type: ignore[arg-type]
    TranslationStep(**parts, pools=(ImagePool(1), ImagePool(1)))  # the same parts are fine otherwise


def test_a_batch_without_both_domains_is_a_value_error():
    step = build()
    step.begin_epoch(0)
    batch = joint_batch()
    source_only = TrainingBatch.of_domain(batch.images[:2], batch.labels[:2], batch.indexes[:2], SOURCE_DOMAIN)
    target_only = TrainingBatch.of_domain(batch.images[2:], batch.labels[2:], batch.indexes[2:], TARGET_DOMAIN)
    before = snapshots(step)
    for wrong in (source_only, target_only):
        with pytest.raises(ValueError, match="source and target"):
            step.run(wrong)
    for name, net in networks(step).items():
        assert same(net, before[name]), name


def test_siamese_metric_validation():
    net = MetricNet(height=SIZE, width=SIZE, dim=8)
    optimizer = torch.optim.Adam(net.parameters())
    for kwargs in (dict(margin=0.0), dict(metric_weight=0.0), dict(generator_weight=-1.0), dict(trains_from=-1)):
        with pytest.raises(ValueError):
            SiameseMetric(net, optimizer, runtime=StepRuntime(), **kwargs)

"""TranslationStep: one iteration of CycleGAN (Zhu et al., ICCV'17), or of SPGAN (Deng et al.,
CVPR'18) when a Siamese metric constraint is added.

    translate both ways: fake_t = G_st(s), fake_s = G_ts(t); cycle back: G_ts(fake_t), G_st(fake_s)
    generators (every ``generator_every``-th iteration of an epoch): LSGAN against the frozen
        discriminators + cycle L1 + identity L1 (+ SPGAN's metric loss on the generators)
    metric network (SPGAN, from its epoch): contrastive loss on the detached translations
    discriminators: LSGAN on real images and on the history pool's translations

Each of the three parts has its own optimiser and its own mixed precision (grad scaler); every
loss is computed before any update, so a non-finite loss on any rank leaves every network as it
was (the image pools excepted: they have taken the iteration's translations). Under torchrun the
generators and the discriminators are each one DDP replica, called once per backward pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import torch
from attrs import field, frozen, validators
from torch import nn

from reidkit.adapters.data.batch import SOURCE_DOMAIN, TARGET_DOMAIN, TrainingBatch
from reidkit.adapters.runtime.seeding import derive_seed
from reidkit.adapters.steps.base import StepRuntime
from reidkit.adapters.steps.precision import Precision
from reidkit.adapters.translation.image_pool import ImagePool
from reidkit.adapters.translation.losses import lsgan_loss, spgan_generator_metric_loss, spgan_metric_loss
from reidkit.domain.types import StepReport


class CycleGenerators(nn.Module):
    """Both generators as one module, so that one DDP replica sees every use of them in the
    generators' backward pass. ``to_target`` renders source images in the target's style."""

    def __init__(self, to_target: nn.Module, to_source: nn.Module) -> None:
        super().__init__()
        self.to_target = to_target
        self.to_source = to_source

    def forward(
        self, source: torch.Tensor, target: torch.Tensor, identity: bool = True
    ) -> tuple[torch.Tensor, ...]:
        """(fake target, fake source, source cycled back, target cycled back, and with
        ``identity`` the target through ``to_target`` and the source through ``to_source``)."""
        fake_target = self.to_target(source)
        fake_source = self.to_source(target)
        cycled_source = self.to_source(fake_target)
        cycled_target = self.to_target(fake_source)
        if not identity:
            return fake_target, fake_source, cycled_source, cycled_target
        return fake_target, fake_source, cycled_source, cycled_target, self.to_target(target), self.to_source(source)


class DomainDiscriminators(nn.Module):
    """``target`` tells real target images from translated source images; ``source`` the other
    way round. One module for the same reason as CycleGenerators."""

    def __init__(self, target: nn.Module, source: nn.Module) -> None:
        super().__init__()
        self.target = target
        self.source = source

    def forward(
        self, real_target: torch.Tensor, fake_target: torch.Tensor, real_source: torch.Tensor, fake_source: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        return self.target(real_target), self.target(fake_target), self.source(real_source), self.source(fake_source)


@frozen(kw_only=True)
class CycleWeights:
    """The generators' loss weights: CycleGAN's gan 1, cycle 10, identity 0.5; SPGAN's identity 5."""

    gan: float = field(default=1.0, validator=validators.ge(0.0))
    cycle: float = field(default=10.0, validator=validators.ge(0.0))
    identity: float = field(default=0.5, validator=validators.ge(0.0))
    discriminator: float = field(default=1.0, validator=validators.gt(0.0))


class MetricConstraint(Protocol):
    """What SPGAN adds to CycleGAN; CycleGAN itself has ``NoMetric``."""

    def modules(self) -> Sequence[nn.Module]: ...

    def generator_loss(
        self, epoch: int, real_source: torch.Tensor, real_target: torch.Tensor, fake_source: torch.Tensor, fake_target: torch.Tensor
    ) -> dict[str, torch.Tensor]: ...

    def metric_loss(
        self, epoch: int, real_source: torch.Tensor, real_target: torch.Tensor, fake_source: torch.Tensor, fake_target: torch.Tensor
    ) -> dict[str, torch.Tensor]: ...

    def apply(self, losses: Mapping[str, torch.Tensor], *, applied: bool) -> None: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


class NoMetric:
    """CycleGAN: no metric network."""

    def modules(self) -> Sequence[nn.Module]:
        return ()

    def generator_loss(self, epoch: int, *images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}

    def metric_loss(self, epoch: int, *images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}

    def apply(self, losses: Mapping[str, torch.Tensor], *, applied: bool) -> None:
        return None

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        return None


class SiameseMetric:
    """SPGAN's similarity-preserving constraint: a Siamese metric network learns that a
    translated image is its source image (self-similarity) and is not a target image (domain
    dissimilarity); from ``guides_from`` on the generators are trained to agree with it.

    ``trains_from`` and ``guides_from`` are 0-based epochs: the reference trains the metric
    network from the second epoch and adds its loss to the generators' from the third, so that
    the generators first learn to translate at all."""

    def __init__(
        self,
        net: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        runtime: StepRuntime,
        margin: float = 2.0,
        generator_weight: float = 2.0,
        metric_weight: float = 1.0,
        trains_from: int = 1,
        guides_from: int = 2,
    ) -> None:
        if margin <= 0:
            raise ValueError(f"margin must be > 0, got {margin}")
        if generator_weight < 0 or metric_weight <= 0:
            raise ValueError(f"metric weights must be >= 0 (generator) and > 0 (metric), got {generator_weight}, {metric_weight}")
        if trains_from < 0 or guides_from < 0:
            raise ValueError(f"trains_from and guides_from are epochs >= 0, got {trains_from}, {guides_from}")
        self.net = net.to(runtime.device)
        self.optimizer = optimizer
        self.replicas = runtime.replicas
        self.precision = Precision(runtime.device, runtime.amp)
        self.margin = float(margin)
        self.generator_weight = float(generator_weight)
        self.metric_weight = float(metric_weight)
        self.trains_from = int(trains_from)
        self.guides_from = int(guides_from)
        # the replica the metric loss runs through, kept until its backward pass: a DDP wrapper
        # dropped when metric_loss returns takes its gradient hooks with it, and the ranks' metric
        # networks then step on their own gradients and drift apart
        self._forward: nn.Module | None = None

    def modules(self) -> Sequence[nn.Module]:
        return (self.net,)

    def generator_loss(
        self, epoch: int, real_source: torch.Tensor, real_target: torch.Tensor, fake_source: torch.Tensor, fake_target: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        if epoch < self.guides_from or self.generator_weight == 0:
            return {}
        _set_trainable(self.net, False)  # the generators' loss moves the generators only
        loss = spgan_generator_metric_loss(
            self.net, real_source, real_target, fake_source, fake_target, margin=self.margin
        ).float()
        return {"metric_g": loss * self.generator_weight}

    def metric_loss(
        self, epoch: int, real_source: torch.Tensor, real_target: torch.Tensor, fake_source: torch.Tensor, fake_target: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        if epoch < self.trains_from:
            return {}
        _set_trainable(self.net, True)
        if self._forward is None:
            self._forward = self.replicas.wrap(self.net)
        with self.precision.autocast():
            loss = spgan_metric_loss(self._forward, real_source, real_target, fake_source, fake_target, margin=self.margin)
        return {"metric": loss.float() * self.metric_weight}

    def apply(self, losses: Mapping[str, torch.Tensor], *, applied: bool) -> None:
        if "metric" in losses:
            self.precision.backward_and_step(losses["metric"], self.optimizer, apply=applied)

    def state_dict(self) -> dict:
        return {"metric_net": self.net.state_dict(), "metric_optimizer": self.optimizer.state_dict(), **_prefixed("metric_", self.precision.state_dict())}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["metric_net"])
        self.optimizer.load_state_dict(state["metric_optimizer"])
        self.precision.load_state_dict(_unprefixed("metric_", state))


@frozen
class LinearDecay:
    """CycleGAN's schedule: the base rate for the first epochs, then a linear decay over the last
    ``decay_epochs`` (the rate of the last epoch is base / (decay_epochs + 1), as in the
    reference); ``decay_epochs`` 0 keeps the rate constant (SPGAN's reference has no schedule)."""

    epochs: int = field(validator=validators.ge(1))
    decay_epochs: int = field(default=0, validator=validators.ge(0))

    def __attrs_post_init__(self) -> None:
        if self.decay_epochs > self.epochs:
            raise ValueError(f"decay_epochs ({self.decay_epochs}) must not exceed the run's epochs ({self.epochs})")

    def factor(self, epoch: int) -> float:
        if self.decay_epochs == 0:
            return 1.0
        constant = self.epochs - self.decay_epochs
        return 1.0 - max(0, epoch + 1 - constant) / (self.decay_epochs + 1)


class TranslationStep:
    """Implements ``TrainingStep[TrainingBatch]`` on joint batches (source rows, then target rows:
    ``JointBatches``), images normalised to [-1, 1]. The report's losses: ``gan``, ``cycle``,
    ``identity`` (the generators' parts; absent on iterations that leave the generators alone),
    ``metric_g`` and ``metric`` (SPGAN), ``discriminator``, and ``total`` (their sum)."""

    stream = "translation-step"

    def __init__(
        self,
        generators: CycleGenerators,
        discriminators: DomainDiscriminators,
        *,
        generator_optimizer: torch.optim.Optimizer,
        discriminator_optimizer: torch.optim.Optimizer,
        pools: tuple[ImagePool, ImagePool],
        weights: CycleWeights = CycleWeights(),
        metric: MetricConstraint | None = None,
        schedule: LinearDecay | None = None,
        generator_every: int = 1,
        runtime: StepRuntime | None = None,
    ) -> None:
        if generator_every < 1:
            raise ValueError(f"generator_every must be >= 1, got {generator_every}")
        if len(pools) != 2:
            raise ValueError(f"pools must be (translated-to-target pool, translated-to-source pool), got {len(pools)}")
        self.runtime = runtime if runtime is not None else StepRuntime()
        self.device = self.runtime.device
        self.generators = generators.to(self.device)
        self.discriminators = discriminators.to(self.device)
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.target_pool, self.source_pool = pools
        self.weights = weights
        self.metric = metric if metric is not None else NoMetric()
        self.schedule = schedule
        self.generator_every = int(generator_every)
        self.replicas = self.runtime.replicas
        self.generator_precision = Precision(self.device, self.runtime.amp)
        self.discriminator_precision = Precision(self.device, self.runtime.amp)
        self._base_lrs = [
            [group["lr"] for group in optimizer.param_groups] for optimizer in self._optimizers()
        ]
        self._epoch = 0
        self._iteration = 0
        self._wrapped: tuple[Any, Any] | None = None

    def _optimizers(self) -> list[torch.optim.Optimizer]:
        metric_optimizer = getattr(self.metric, "optimizer", None)
        return [self.generator_optimizer, self.discriminator_optimizer, *([metric_optimizer] if metric_optimizer else [])]

    def step_modules(self) -> Sequence[nn.Module]:
        return (self.generators, self.discriminators, *self.metric.modules())

    def begin_epoch(self, epoch: int) -> None:
        self._epoch, self._iteration = int(epoch), 0
        self._wrapped = None  # re-wrapped each epoch, like every step
        for module in self.step_modules():
            module.train()
        if self.schedule is not None:
            factor = self.schedule.factor(epoch)
            for optimizer, base in zip(self._optimizers(), self._base_lrs, strict=True):
                for group, lr in zip(optimizer.param_groups, base, strict=True):
                    group["lr"] = lr * factor
        torch.manual_seed(derive_seed(self.runtime.seed, self.stream, epoch))

    def _forward(self) -> tuple[Any, Any]:
        if self._wrapped is None:
            self._wrapped = (self.replicas.wrap(self.generators), self.replicas.wrap(self.discriminators))
        return self._wrapped

    def run(self, batch: TrainingBatch) -> StepReport:
        batch = batch.to(self.device)
        source = batch.images[batch.domains == SOURCE_DOMAIN]
        target = batch.images[batch.domains == TARGET_DOMAIN]
        if len(source) == 0 or len(target) == 0:
            raise ValueError(f"a translation batch needs source and target images, got {len(source)} and {len(target)}")
        generators, discriminators = self._forward()
        # every generator_every-th iteration, counted from 1: the reference alternates from the
        # first, but then the steps a log shows (every log_every-th) would never be generator steps
        self._iteration += 1
        trains_generators = self._iteration % self.generator_every == 0
        precision = self.generator_precision
        losses: dict[str, torch.Tensor] = {}

        with precision.autocast():
            if trains_generators:
                images = generators(source, target, self.weights.identity > 0)
            else:
                with torch.no_grad():
                    images = self.generators(source, target, False)
        fake_target, fake_source, cycled_source, cycled_target = images[:4]

        if trains_generators:
            _set_trainable(self.discriminators, False)  # the generators' loss moves the generators only
            with precision.autocast():
                judged_target = self.discriminators.target(fake_target)
                judged_source = self.discriminators.source(fake_source)
                metric = self.metric.generator_loss(self._epoch, source, target, fake_source, fake_target)
            losses["gan"] = self.weights.gan * (lsgan_loss(judged_target, True) + lsgan_loss(judged_source, True))
            losses["cycle"] = self.weights.cycle * (_l1(cycled_source, source) + _l1(cycled_target, target))
            if self.weights.identity > 0:
                same_target, same_source = images[4:]
                losses["identity"] = self.weights.identity * (_l1(same_target, target) + _l1(same_source, source))
            losses.update(metric)
        generator_total = sum(losses.values()) if losses else None

        losses.update(self.metric.metric_loss(self._epoch, source, target, fake_source.detach(), fake_target.detach()))

        _set_trainable(self.discriminators, True)
        pooled_target = self.target_pool.query(fake_target.detach())
        pooled_source = self.source_pool.query(fake_source.detach())
        with precision.autocast():
            real_t, fake_t, real_s, fake_s = discriminators(target, pooled_target, source, pooled_source)
        losses["discriminator"] = self.weights.discriminator * 0.5 * (
            lsgan_loss(real_t, True) + lsgan_loss(fake_t, False) + lsgan_loss(real_s, True) + lsgan_loss(fake_s, False)
        )

        total = sum(losses.values())
        applied = self.replicas.all_finite(total)
        if generator_total is not None:
            self.generator_precision.backward_and_step(generator_total, self.generator_optimizer, apply=applied)
        self.metric.apply(losses, applied=applied)
        self.discriminator_precision.backward_and_step(losses["discriminator"], self.discriminator_optimizer, apply=applied)
        self.replicas.sync_buffers(self.step_modules())
        losses["total"] = total
        return StepReport(
            losses={name: value.detach() for name, value in losses.items()},
            batch_size=len(batch),
            lr=float(self.generator_optimizer.param_groups[0]["lr"]),
            finite=applied,
        )

    def state_dict(self) -> dict:
        return {
            "generators": self.generators.state_dict(),
            "discriminators": self.discriminators.state_dict(),
            "generator_optimizer": self.generator_optimizer.state_dict(),
            "discriminator_optimizer": self.discriminator_optimizer.state_dict(),
            "target_pool": self.target_pool.state_dict(),
            "source_pool": self.source_pool.state_dict(),
            **_prefixed("generator_", self.generator_precision.state_dict()),
            **_prefixed("discriminator_", self.discriminator_precision.state_dict()),
            **self.metric.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        missing = [key for key in ("generators", "discriminators", "generator_optimizer", "discriminator_optimizer", "target_pool", "source_pool") if key not in state]
        if missing:
            raise KeyError(f"TranslationStep state lacks {', '.join(missing)}")
        self.generators.load_state_dict(state["generators"])
        self.discriminators.load_state_dict(state["discriminators"])
        self.generator_optimizer.load_state_dict(state["generator_optimizer"])
        self.discriminator_optimizer.load_state_dict(state["discriminator_optimizer"])
        self.target_pool.load_state_dict(state["target_pool"])
        self.source_pool.load_state_dict(state["source_pool"])
        self.generator_precision.load_state_dict(_unprefixed("generator_", state))
        self.discriminator_precision.load_state_dict(_unprefixed("discriminator_", state))
        self.metric.load_state_dict(state)


def _l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.l1_loss(a.float(), b.float())


def _set_trainable(module: nn.Module, trainable: bool) -> None:
    for parameter in module.parameters():
        parameter.requires_grad_(trainable)


def _prefixed(prefix: str, state: Mapping[str, Any]) -> dict[str, Any]:
    return {prefix + key: value for key, value in state.items()}


def _unprefixed(prefix: str, state: Mapping[str, Any]) -> dict[str, Any]:
    return {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}

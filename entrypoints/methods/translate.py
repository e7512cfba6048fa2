"""Image translation between two domains (CycleGAN, Zhu et al. ICCV'17; SPGAN, Deng et al.
CVPR'18): two ResNet generators and two PatchGAN discriminators trained with LSGAN, cycle and
identity losses (and SPGAN's Siamese metric constraint), then the source dataset rendered in the
target's style into the run folder's ``translated/`` (a Market-layout dataset with the source's
identities, cameras and file names, and a manifest). ``train.domain`` is the source; the method's
table ``[translate]`` names the ``target`` and holds the recipe."""

from __future__ import annotations

from functools import cache
from typing import Any, Literal, Union

from attrs import field, frozen, validators as v

from reidkit.entrypoints.methods import MethodSpec

TRANSLATED_DIR = "translated"


@frozen(kw_only=True)
class NoMetricSettings:
    """CycleGAN: the generators see only the adversarial, cycle and identity losses."""

    kind: Literal["none"] = "none"


@frozen(kw_only=True)
class SiameseSettings:
    """SPGAN's metric network and its contrastive loss; epochs are 1-based (the reference trains
    the network from the second epoch and guides the generators with it from the third)."""

    kind: Literal["siamese"] = "siamese"
    dim: int = field(default=64, validator=v.ge(1))
    margin: float = field(default=2.0, validator=v.gt(0.0))
    generator_weight: float = field(default=2.0, validator=v.ge(0.0))
    metric_weight: float = field(default=1.0, validator=v.gt(0.0))
    trains_from_epoch: int = field(default=2, validator=v.ge(1))
    guides_from_epoch: int = field(default=3, validator=v.ge(1))


MetricSettings = Union[NoMetricSettings, SiameseSettings]


@frozen(kw_only=True)
class TranslateOptions:
    """``[translate]``: CycleGAN's defaults (SPGAN's profile changes identity_weight, the metric,
    generator_every and the schedule)."""

    target: str = "target"  # the domain whose style the source takes
    batch_size: int = field(default=1, validator=v.ge(1))  # images of each domain per step and rank
    generator_blocks: int = field(default=9, validator=v.ge(1))
    generator_width: int = field(default=64, validator=v.ge(1))
    discriminator_layers: int = field(default=3, validator=v.ge(1))
    discriminator_width: int = field(default=64, validator=v.ge(1))
    gan_weight: float = field(default=1.0, validator=v.ge(0.0))
    cycle_weight: float = field(default=10.0, validator=v.ge(0.0))
    identity_weight: float = field(default=0.5, validator=v.ge(0.0))
    pool_size: int = field(default=50, validator=v.ge(0))
    lr: float = field(default=2e-4, validator=v.gt(0.0))
    beta1: float = field(default=0.5, validator=[v.ge(0.0), v.lt(1.0)])
    # the rate decays linearly towards 0 over this last share of train.epochs (CycleGAN: 0.5, its
    # 25 + 25 epochs); 0 = a constant rate (SPGAN's reference)
    decay_fraction: float = field(default=0.0, validator=[v.ge(0.0), v.le(1.0)])
    generator_every: int = field(default=1, validator=v.ge(1))  # SPGAN's reference: every 2nd step
    metric: MetricSettings = field(factory=NoMetricSettings)
    render_batch_size: int = field(default=32, validator=v.ge(1))
    preview_images: int = field(default=8, validator=v.ge(1))  # rows of each evaluation's grid


def _check(profile: Any, options: TranslateOptions) -> None:
    if options.target == profile.train.domain:
        raise ValueError(f"translate.target and train.domain are both '{options.target}': translation needs two domains")
    if profile.input.height % 4 or profile.input.width % 4:
        raise ValueError(
            f"input {profile.input.height}x{profile.input.width}: the generators halve the image twice, so height "
            "and width must be multiples of 4"
        )
    metric = options.metric
    if isinstance(metric, SiameseSettings) and min(profile.input.height, profile.input.width) < 64:
        raise ValueError(
            f"input {profile.input.height}x{profile.input.width}: SPGAN's metric network halves the image six times "
            "and needs both sides >= 64"
        )


def gan_networks(options: Any, seed: int) -> tuple[Any, Any]:
    """The generators and discriminators, their weights drawn from the run's seed (CycleGAN's
    N(0, 0.02) initialisation), each network from its own stream."""
    from reidkit.adapters.runtime.seeding import derive_seed
    from reidkit.adapters.steps.translation import CycleGenerators, DomainDiscriminators
    from reidkit.adapters.translation.networks import PatchDiscriminator, ResnetGenerator, init_gan_weights

    def generator(name: str) -> Any:
        net = ResnetGenerator(blocks=options["generator_blocks"], width=options["generator_width"])
        init_gan_weights(net, seed=derive_seed(seed, "translate", name) % 2**63)
        return net

    def discriminator(name: str) -> Any:
        net = PatchDiscriminator(layers=options["discriminator_layers"], width=options["discriminator_width"])
        init_gan_weights(net, seed=derive_seed(seed, "translate", name) % 2**63)
        return net

    return (
        CycleGenerators(generator("to_target"), generator("to_source")),
        DomainDiscriminators(discriminator("judges_target"), discriminator("judges_source")),
    )


def metric_network(metric: Any, height: int, width: int, seed: int) -> Any:
    from reidkit.adapters.runtime.seeding import derive_seed
    from reidkit.adapters.translation.networks import MetricNet, init_gan_weights

    net = MetricNet(height=height, width=width, dim=metric["dim"])
    init_gan_weights(net, seed=derive_seed(seed, "translate", "metric") % 2**63)
    return net


def decay_epochs(epochs: int, fraction: float) -> int:
    return round(epochs * fraction)


def gan_adam(modules: Any, lr: float, beta1: float) -> Any:
    import torch

    return torch.optim.Adam(modules.parameters(), lr=lr, betas=(beta1, 0.999))


def source_splits(domains: Any, source: str) -> dict[str, Any]:
    """The source dataset's splits, by the Market folder each is rendered into (the training
    split as read: its records keep their file names, which carry the original identities)."""
    from reidkit.adapters.data.market import GALLERY_DIR, QUERY_DIR, TRAIN_DIR
    from reidkit.application.evaluate import pick_domain

    dataset = pick_domain(domains, source)
    splits = {TRAIN_DIR: dataset.train, QUERY_DIR: dataset.query, GALLERY_DIR: dataset.gallery}
    return {folder: records for folder, records in splits.items() if records}


def target_train(domains: Any, target: str) -> Any:
    from reidkit.application.evaluate import pick_domain

    return pick_domain(domains, target).train


def rendering_progress(quiet: bool) -> Any:
    from reidkit.adapters.runtime.observers import progress_callback

    return progress_callback("rendering the source in the target's style", enabled=not quiet)


@cache
def container() -> type:
    """The method's container class, made on first use (it imports torch)."""
    from dependency_injector import containers, providers

    from reidkit.adapters.data.batch import TARGET_DOMAIN
    from reidkit.adapters.data.batches import shuffled_batches
    from reidkit.adapters.data.pseudo_batches import JointBatches
    from reidkit.adapters.data.transforms import build_gan_transform
    from reidkit.adapters.runtime.distributed import MainProcessObserver, RankZeroRendering
    from reidkit.adapters.runtime.observers import CompositeObserver
    from reidkit.adapters.steps.translation import CycleWeights, LinearDecay, NoMetric, SiameseMetric, TranslationStep
    from reidkit.adapters.translation.image_pool import ImagePool
    from reidkit.adapters.translation.preview import TranslationPreview, preview_images
    from reidkit.adapters.translation.render import GeneratorTranslator, MarketRendering
    from reidkit.application.epoch_loop import EpochLoop
    from reidkit.application.translate import Translate
    from reidkit.domain.types import LabelSpace
    from reidkit.entrypoints.parts.data import Data
    from reidkit.entrypoints.parts.training import TrainingRuntime, run_checkpointer
    from reidkit.adapters.runtime.seeding import derive_seed

    def pool(size: int, seed: int, name: str) -> ImagePool:
        return ImagePool(size, seed=derive_seed(seed, "translate", name) % 2**63)

    class TranslateContainer(containers.DeclarativeContainer):
        config = providers.Configuration(strict=True)
        training = providers.Container(TrainingRuntime, config=config)
        data = providers.Container(Data, config=config)
        options = config.translate

        networks = providers.Singleton(gan_networks, options, config.seed)
        generators = providers.Callable(lambda pair: pair[0], networks)
        discriminators = providers.Callable(lambda pair: pair[1], networks)

        # built only when the metric is SPGAN's (a Selector builds the chosen branch alone)
        metric_net = providers.Singleton(metric_network, options.metric, config.input.height, config.input.width, config.seed)
        metric = providers.Selector(
            options.metric.kind,
            none=providers.Singleton(NoMetric),
            siamese=providers.Singleton(
                SiameseMetric,
                metric_net,
                providers.Singleton(gan_adam, metric_net, options.lr, options.beta1),
                runtime=training.steps,
                margin=options.metric.margin,
                generator_weight=options.metric.generator_weight,
                metric_weight=options.metric.metric_weight,
                trains_from=providers.Callable(lambda epoch: epoch - 1, options.metric.trains_from_epoch),
                guides_from=providers.Callable(lambda epoch: epoch - 1, options.metric.guides_from_epoch),
            ),
        )
        step = providers.Singleton(
            TranslationStep,
            generators,
            discriminators,
            generator_optimizer=providers.Singleton(gan_adam, generators, options.lr, options.beta1),
            discriminator_optimizer=providers.Singleton(gan_adam, discriminators, options.lr, options.beta1),
            pools=providers.List(
                providers.Singleton(pool, options.pool_size, config.seed, "pool_target"),
                providers.Singleton(pool, options.pool_size, config.seed, "pool_source"),
            ),
            weights=providers.Singleton(
                CycleWeights, gan=options.gan_weight, cycle=options.cycle_weight, identity=options.identity_weight
            ),
            metric=metric,
            schedule=providers.Singleton(
                LinearDecay,
                epochs=config.train.epochs,
                decay_epochs=providers.Callable(decay_epochs, config.train.epochs, options.decay_fraction),
            ),
            generator_every=options.generator_every,
            runtime=training.steps,
        )

        transform = providers.Singleton(build_gan_transform, config.input.height, config.input.width, flip_p=config.input.flip_p)
        shared = dict(
            batch_size=options.batch_size,
            seed=config.seed,
            num_batches=config.train.iters_per_epoch,
            loading=training.loading,
            rank=training.group.provided.rank,
            world_size=training.group.provided.world_size,
        )
        target_records = providers.Callable(target_train, data.domains, options.target)
        batches = providers.Singleton(
            JointBatches,
            providers.Singleton(shuffled_batches, data.train_set.provided.train, transform, stream="translate-source", **shared),
            providers.Singleton(
                shuffled_batches, target_records, transform, stream="translate-target", domain=TARGET_DOMAIN, **shared
            ),
            providers.Object(LabelSpace(source_classes=0)),
        )
        del shared

        preview = providers.Singleton(
            MainProcessObserver,
            providers.Singleton(
                TranslationPreview,
                generators.provided.to_target,
                generators.provided.to_source,
                providers.Callable(
                    preview_images,
                    data.train_set.provided.train,
                    options.preview_images,
                    seed=config.seed,
                    height=config.input.height,
                    width=config.input.width,
                ),
                providers.Callable(
                    preview_images,
                    target_records,
                    options.preview_images,
                    seed=providers.Callable(lambda seed: seed + 1, config.seed),
                    height=config.input.height,
                    width=config.input.width,
                ),
                training.config.runtime.work_dir,
                evaluates_after=training.schedule.provided.evaluates_after,
            ),
        )
        checkpointer = run_checkpointer(training, providers.Dict(step=step))
        loop = providers.Factory(
            EpochLoop,
            batches=batches,
            step=step,
            checkpointer=checkpointer,
            observer=providers.Singleton(CompositeObserver, providers.List(training.observer, preview)),
            schedule=training.schedule,
            evaluations=providers.Dict(),
            max_bad_steps=config.train.max_bad_steps,
        )

        translator = providers.Singleton(
            GeneratorTranslator,
            generators.provided.to_target,
            height=config.input.height,
            width=config.input.width,
            device=training.process.provided.device,
            amp=training.steps.provided.amp,
            batch_size=options.render_batch_size,
            progress=providers.Callable(rendering_progress, config.runtime.quiet),
        )
        plain_rendering = providers.Singleton(
            MarketRendering,
            providers.Callable(lambda run_dir: f"{run_dir}/{TRANSLATED_DIR}", config.runtime.work_dir),
            source=config.train.domain,
            target=options.target,
        )
        rendering = providers.Selector(
            training.group.provided.topology,
            single=plain_rendering,
            distributed=providers.Singleton(RankZeroRendering, plain_rendering, training.group),
        )
        use_case = providers.Factory(
            Translate,
            loop=loop,
            translator=translator,
            rendering=rendering,
            splits=providers.Callable(source_splits, data.domains, config.train.domain),
        )

    return TranslateContainer


METHOD = MethodSpec(
    name="translate",
    summary="image translation between two domains (CycleGAN, SPGAN), then the source rendered in the target's style",
    container=container,
    options=TranslateOptions,
    check=_check,
)

"""Dependency-injector containers: the one place where settings become objects.

``CoreContainer`` holds what every method shares (runtime, data, transforms, evaluator, labeler);
a method container per paper wires its own model, step and use-case on top of it. Swappable
leaves are ``Selector``s on a ``kind``; the method container is picked in plain Python.
"""

from __future__ import annotations

from pathlib import Path

from dependency_injector import containers, providers

from reidkit.adapters.data.batches import LoaderBatchSource
from reidkit.adapters.data.datasets import ImageDataset
from reidkit.adapters.data.samplers import IdentitySampler
from reidkit.adapters.data.transforms import build_test_transform, build_train_transform
from reidkit.adapters.evaluation.evaluator import RankingEvaluator
from reidkit.adapters.models.backbone import build_reid_model
from reidkit.adapters.runtime.replication import replicas_for
from reidkit.adapters.steps.supervised import SupervisedStep
from reidkit.application.supervised_train import SupervisedTrain
from reidkit.entrypoints.adapt_containers import (
    ClusterBaselineContainer,
    ClusterContrastContainer,
    MeanTeachContainer,
    SpclContainer,
)
from reidkit.entrypoints.clustering import pseudo_labeler_selector
from reidkit.entrypoints.runtime import process_runtime
from reidkit.entrypoints.settings import Profile, unstructure_profile
from reidkit.entrypoints.wiring import (
    amp_enabled,
    architecture,
    batch_count,
    checkpointer_provider,
    cross_entropy_or_none,
    device_of,
    encoder_provider,
    evaluations,
    market_domains,
    num_train_pids,
    observer_provider,
    optimizer_selector,
    pk_batch_size,
    process_group,
    rank_of,
    replicated,
    reranker_or_none,
    schedule_provider,
    scheduler_selector,
    synthetic_domains,
    train_labels,
    train_records,
    training_split,
    triplet_or_none,
    world_size_of,
)


# --- containers ---------------------------------------------------------------------------------


class CoreContainer(containers.DeclarativeContainer):
    """Shared by every method: runtime, data, transforms, evaluator and pseudo-labeler."""

    config = providers.Configuration(strict=True)

    runtime = providers.Resource(
        process_runtime,
        seed=config.seed,
        threads=config.runtime.threads,
        device=config.runtime.device,
        run_dir=config.runtime.work_dir,
        timeout_s=config.runtime.collective_timeout_s,
    )
    # rank and world size as the adapters see them; one process outside torchrun
    processes = providers.Singleton(process_group, runtime)
    replicas = providers.Singleton(replicas_for, processes)

    domains = providers.Selector(
        config.data.kind,
        synthetic=providers.Singleton(
            synthetic_domains, preset=config.data.preset, seed=config.data.seed, cache_dir=config.data.cache_dir
        ),
        market=providers.Singleton(market_domains, roots=config.data.roots),
    )

    train_transform = providers.Singleton(
        build_train_transform,
        config.input.height,
        config.input.width,
        flip_p=config.input.flip_p,
        pad=config.input.pad,
        erasing_p=config.input.erasing_p,
    )
    test_transform = providers.Singleton(build_test_transform, config.input.height, config.input.width)

    pseudo_labeler = pseudo_labeler_selector(config)

    evaluator = providers.Singleton(
        RankingEvaluator,
        metric=config.eval.metric,
        normalize=config.eval.normalize,
        max_rank=config.eval.max_rank,
        reranker=providers.Callable(
            reranker_or_none, config.rerank.enabled, config.rerank.k1, config.rerank.k2, config.rerank.lambda_value
        ),
    )


class SupervisedContainer(containers.DeclarativeContainer):
    """The strong supervised baseline (BoT): CE with label smoothing + batch-hard triplet."""

    config = providers.Configuration(strict=True)
    core = providers.DependenciesContainer()

    train_set = providers.Singleton(
        training_split, core.domains, config.train.domain, config.data.unreadable, config.runtime.work_dir
    )

    model = replicated(
        config,
        core,
        providers.Singleton(
            build_reid_model,
            config.model.backbone,
            num_classes=providers.Callable(num_train_pids, train_set),
            **architecture(config),
        ),
    )

    optimizer = optimizer_selector(config, model)
    scheduler = scheduler_selector(config, optimizer)

    step = providers.Singleton(
        SupervisedStep,
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        cross_entropy=providers.Callable(cross_entropy_or_none, config.loss.label_smoothing, config.loss.ce_weight),
        triplet=providers.Callable(
            triplet_or_none, config.loss.triplet_margin, config.loss.soft_margin, config.loss.triplet_weight
        ),
        ce_weight=config.loss.ce_weight,
        triplet_weight=config.loss.triplet_weight,
        triplet_on=config.loss.triplet_on,
        device=providers.Callable(device_of, core.runtime),
        amp=providers.Callable(amp_enabled, config.train.amp, core.runtime, config.train.amp_dtype),
        seed=config.seed,
        replicas=core.replicas,
    )

    batches = providers.Singleton(
        LoaderBatchSource,
        providers.Singleton(
            ImageDataset, providers.Callable(train_records, train_set), core.train_transform
        ),
        providers.Singleton(
            IdentitySampler,
            providers.Callable(train_labels, train_set),
            instances_per_id=config.train.instances_per_id,
            ids_per_batch=config.train.ids_per_batch,
            seed=config.seed,
            num_batches=providers.Callable(batch_count, config.train.iters_per_epoch),
            rank=providers.Callable(rank_of, core.processes),
            world_size=providers.Callable(world_size_of, core.processes),
        ),
        batch_size=providers.Callable(pk_batch_size, config.train.ids_per_batch, config.train.instances_per_id),
        seed=config.seed,
        num_workers=config.input.num_workers,
        rank=providers.Callable(rank_of, core.processes),
    )

    encoder = encoder_provider(config, core, model)

    evaluations = providers.Singleton(evaluations, encoder, core.evaluator, core.domains, config.eval.domains)

    checkpointer = checkpointer_provider(config, providers.Dict(step=step))
    observer = observer_provider(config)
    schedule = schedule_provider(config)

    use_case = providers.Factory(
        SupervisedTrain,
        batches=batches,
        step=step,
        checkpointer=checkpointer,
        observer=observer,
        schedule=schedule,
        evaluations=evaluations,
    )


METHOD_CONTAINERS: dict[str, type[containers.DeclarativeContainer]] = {
    "supervised": SupervisedContainer,
    "cluster_baseline": ClusterBaselineContainer,
    "spcl": SpclContainer,
    "cluster_contrast": ClusterContrastContainer,
    "mean_teach": MeanTeachContainer,
}


class App:
    """A built application: the core container and the profile's method container."""

    def __init__(self, profile: Profile, *, work_dir: str | None = None) -> None:
        settings = unstructure_profile(profile)
        settings["runtime"]["work_dir"] = work_dir or settings["runtime"]["work_dir"] or f"runs/{profile.name}"
        self.profile = profile
        self.run_dir = Path(settings["runtime"]["work_dir"])
        self.core = CoreContainer()
        self.core.config.from_dict(settings)
        self.method = METHOD_CONTAINERS[profile.method](core=self.core)
        self.method.config.from_dict(settings)

    def __enter__(self) -> App:
        self.core.init_resources()
        return self

    def __exit__(self, *exc: object) -> None:
        self.core.shutdown_resources()


def build_app(profile: Profile, *, work_dir: str | None = None) -> App:
    return App(profile, work_dir=work_dir)

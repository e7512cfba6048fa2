"""Dependency-injector containers: the one place where settings become objects.

``CoreContainer`` holds what every method shares (runtime, data, transforms, evaluator, labeler);
a method container per paper wires its own model, step and use-case on top of it. Swappable
leaves are ``Selector``s on a ``kind``; the method container is picked in plain Python.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from dependency_injector import containers, providers

from reidkit.adapters.data.batches import LoaderBatchSource
from reidkit.adapters.data.datasets import ImageDataset
from reidkit.adapters.data.market import read_market
from reidkit.adapters.data.samplers import IdentitySampler
from reidkit.adapters.data.synth import ensure_synthetic
from reidkit.adapters.data.transforms import build_test_transform, build_train_transform
from reidkit.adapters.encoders.torch_encoder import TorchFeatureEncoder
from reidkit.adapters.evaluation.evaluator import RankingEvaluator
from reidkit.adapters.evaluation.rerank import KReciprocalReranker
from reidkit.adapters.losses.cross_entropy import CrossEntropyLoss
from reidkit.adapters.losses.triplet import TripletLoss
from reidkit.adapters.models.backbone import build_reid_model
from reidkit.adapters.runtime.checkpoint import TorchCheckpointer
from reidkit.adapters.runtime.distributed import MainProcessCheckpointer, MainProcessObserver
from reidkit.adapters.runtime.observers import (
    CompositeObserver,
    LoggingObserver,
    MetricsFileObserver,
    ProgressObserver,
    TensorboardObserver,
    progress_callback,
)
from reidkit.adapters.steps.optim import WarmupSchedule, build_optimizer
from reidkit.adapters.steps.supervised import SupervisedStep
from reidkit.application.evaluate import Evaluate
from reidkit.application.supervised_train import Schedule, SupervisedTrain
from reidkit.domain.errors import DatasetError
from reidkit.domain.types import ImageRecord, ReidDataset
from reidkit.entrypoints.clustering import pseudo_labeler_selector
from reidkit.entrypoints.runtime import ProcessRuntime, process_runtime
from reidkit.entrypoints.settings import Profile, unstructure_profile

# --- glue: small functions the providers call ---------------------------------------------------


def default_data_dir() -> Path:
    return Path(os.environ.get("REIDKIT_DATA_DIR") or Path.home() / ".cache" / "reidkit" / "synthetic")


def synthetic_domains(preset: str, seed: int, cache_dir: str) -> dict[str, ReidDataset]:
    roots = ensure_synthetic(
        preset,
        seed,
        Path(cache_dir) if cache_dir else default_data_dir(),
        progress=progress_callback(f"generating synthetic data ({preset}, seed {seed})"),
    )
    return {name: read_market(root, domain=name) for name, root in roots.items()}


def market_domains(roots: Mapping[str, str]) -> dict[str, ReidDataset]:
    return {name: read_market(root, domain=name) for name, root in roots.items()}


def pick_domain(domains: Mapping[str, ReidDataset], name: str) -> ReidDataset:
    if name not in domains:
        raise DatasetError(f"no domain named {name!r}; the data has {sorted(domains)}")
    return domains[name]


def train_records(dataset: ReidDataset) -> tuple[ImageRecord, ...]:
    return dataset.train


def num_train_pids(dataset: ReidDataset) -> int:
    return dataset.num_train_pids


def pk_batch_size(ids_per_batch: int, instances_per_id: int) -> int:
    return ids_per_batch * instances_per_id


def train_labels(dataset: ReidDataset) -> list[int]:
    return [r.pid for r in dataset.train]


def evaluations(
    encoder: TorchFeatureEncoder, evaluator: RankingEvaluator, domains: Mapping[str, ReidDataset], names: Sequence[str]
) -> dict[str, Evaluate]:
    return {
        name: Evaluate(encoder, evaluator, pick_domain(domains, name).query, pick_domain(domains, name).gallery)
        for name in names
    }


def reranker_or_none(enabled: bool, k1: int, k2: int, lambda_value: float) -> KReciprocalReranker | None:
    return KReciprocalReranker(k1, k2, lambda_value) if enabled else None


def batch_count(iters_per_epoch: int) -> int | None:
    return iters_per_epoch or None


def amp_enabled(amp: str, runtime: ProcessRuntime) -> bool:
    return amp == "on" or (amp == "auto" and runtime.device.type == "cuda")


def device_of(runtime: ProcessRuntime) -> str:
    return str(runtime.device)


def checkpoint_dir(run_dir: str) -> Path:
    return Path(run_dir) / "checkpoints"


def events_dir(run_dir: str) -> Path:
    return Path(run_dir) / "events"


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
    )

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

    train_set = providers.Singleton(pick_domain, core.domains, config.train.domain)

    model = providers.Singleton(
        build_reid_model,
        config.model.backbone,
        num_classes=providers.Callable(num_train_pids, train_set),
        last_stride=config.model.last_stride,
        pooling=config.model.pooling,
        bnneck=config.model.bnneck,
        dropout=config.model.dropout,
        embedding_dim=config.model.embedding_dim,
        pretrained=config.model.pretrained,
    )

    optimizer = providers.Selector(
        config.optimizer.kind,
        adam=providers.Singleton(
            build_optimizer, "adam", model, lr=config.optimizer.lr, weight_decay=config.optimizer.weight_decay
        ),
        sgd=providers.Singleton(
            build_optimizer,
            "sgd",
            model,
            lr=config.optimizer.lr,
            weight_decay=config.optimizer.weight_decay,
            momentum=config.optimizer.momentum,
        ),
    )

    scheduler = providers.Selector(
        config.scheduler.kind,
        step=providers.Singleton(
            WarmupSchedule,
            optimizer,
            kind="step",
            warmup_epochs=config.scheduler.warmup_epochs,
            warmup_factor=config.scheduler.warmup_factor,
            milestones=config.scheduler.milestones,
            gamma=config.scheduler.gamma,
        ),
        cosine=providers.Singleton(
            WarmupSchedule,
            optimizer,
            kind="cosine",
            warmup_epochs=config.scheduler.warmup_epochs,
            warmup_factor=config.scheduler.warmup_factor,
            max_epochs=config.train.epochs,
            min_lr=config.scheduler.min_lr,
        ),
    )

    step = providers.Singleton(
        SupervisedStep,
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        cross_entropy=providers.Singleton(CrossEntropyLoss, epsilon=config.loss.label_smoothing),
        triplet=providers.Singleton(
            TripletLoss, margin=config.loss.triplet_margin, soft_margin=config.loss.soft_margin
        ),
        ce_weight=config.loss.ce_weight,
        triplet_weight=config.loss.triplet_weight,
        device=providers.Callable(device_of, core.runtime),
        amp=providers.Callable(amp_enabled, config.train.amp, core.runtime),
        seed=config.seed,
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
        ),
        batch_size=providers.Callable(pk_batch_size, config.train.ids_per_batch, config.train.instances_per_id),
        seed=config.seed,
        num_workers=config.input.num_workers,
    )

    encoder = providers.Singleton(
        TorchFeatureEncoder,
        model,
        core.test_transform,
        batch_size=config.eval.batch_size,
        device=providers.Callable(device_of, core.runtime),
        num_workers=config.input.num_workers,
        flip_augment=config.eval.flip,
        progress=providers.Callable(progress_callback, "features"),
    )

    evaluations = providers.Singleton(evaluations, encoder, core.evaluator, core.domains, config.eval.domains)

    checkpointer = providers.Singleton(
        MainProcessCheckpointer,
        providers.Singleton(
            TorchCheckpointer,
            providers.Callable(checkpoint_dir, config.runtime.work_dir),
            providers.Dict(step=step),
        ),
    )

    observer = providers.Singleton(
        MainProcessObserver,
        providers.Singleton(
            CompositeObserver,
            providers.List(
                providers.Singleton(LoggingObserver, log_every=config.train.log_every),
                providers.Singleton(ProgressObserver),
                providers.Singleton(
                    TensorboardObserver,
                    providers.Callable(events_dir, config.runtime.work_dir),
                    log_every=config.train.log_every,
                ),
                providers.Singleton(MetricsFileObserver, config.runtime.work_dir),
            ),
        ),
    )

    schedule = providers.Singleton(Schedule, epochs=config.train.epochs, eval_every=config.train.eval_every)

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

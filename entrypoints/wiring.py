"""Wiring shared by the method containers: glue functions the providers call, and the provider
groups every method declares the same way (optimiser, schedule, observers, checkpointer)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dependency_injector import providers

from reidkit.adapters.data.synth import ensure_synthetic
from reidkit.adapters.data.market import read_market
from reidkit.adapters.data.scan import screen_training_images
from reidkit.adapters.encoders.sharded import ShardedEncoder
from reidkit.adapters.encoders.torch_encoder import TorchFeatureEncoder
from reidkit.adapters.evaluation.evaluator import RankingEvaluator
from reidkit.adapters.evaluation.rerank import KReciprocalReranker
from reidkit.adapters.losses.cross_entropy import CrossEntropyLoss
from reidkit.adapters.losses.triplet import TripletLoss
from reidkit.adapters.memory.global_update import GlobalMemoryUpdate
from reidkit.adapters.runtime.checkpoint import TorchCheckpointer
from reidkit.adapters.runtime.collectives import ProcessGroup
from reidkit.adapters.runtime.distributed import MainProcessCheckpointer, MainProcessObserver, RankZeroLabeler
from reidkit.adapters.runtime.replication import with_sync_batchnorm
from reidkit.adapters.runtime.observers import (
    CompositeObserver,
    LoggingObserver,
    MetricsFileObserver,
    ProgressObserver,
    TensorboardObserver,
    progress_callback,
)
from reidkit.adapters.steps.optim import WarmupSchedule, build_optimizer
from reidkit.application.epoch_loop import Schedule
from reidkit.application.evaluate import Evaluate
from reidkit.domain.errors import DatasetError
from reidkit.domain.ports import FeatureEncoder, PseudoLabeler
from reidkit.domain.types import ImageRecord, ReidDataset
from reidkit.entrypoints.runtime import ProcessRuntime

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


def training_split(domains: Mapping[str, ReidDataset], name: str, unreadable: str, run_dir: str) -> ReidDataset:
    """The domain ``name`` once its training images are checked, under the ``data.unreadable`` policy."""
    return screen_training_images(
        pick_domain(domains, name),
        unreadable,  # type: ignore[arg-type] - the settings' Literal
        run_dir,
        progress=progress_callback(f"checking the training images of '{name}'"),
    )


def optional_training_split(domains: Mapping[str, ReidDataset], name: str, unreadable: str, run_dir: str) -> ReidDataset | None:
    return training_split(domains, name, unreadable, run_dir) if name else None


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


def amp_enabled(amp: str, runtime: ProcessRuntime, dtype: str = "auto") -> bool | str:
    """What a step's Precision gets: False, True (the device's dtype) or the profile's dtype name."""
    enabled = amp == "on" or (amp == "auto" and runtime.device.type == "cuda")
    return enabled and (dtype if dtype != "auto" else True)


def device_of(runtime: ProcessRuntime) -> str:
    return str(runtime.device)


def checkpoint_dir(run_dir: str) -> Path:
    return Path(run_dir) / "checkpoints"


def events_dir(run_dir: str) -> Path:
    return Path(run_dir) / "events"


def cross_entropy_or_none(epsilon: float, weight: float) -> CrossEntropyLoss | None:
    """A zero-weighted loss is not computed at all (UDA_TP trains without a classifier)."""
    return CrossEntropyLoss(epsilon=epsilon) if weight > 0 else None


def triplet_or_none(margin: float, soft_margin: bool, weight: float) -> TripletLoss | None:
    return TripletLoss(margin=margin, soft_margin=soft_margin) if weight > 0 else None


def process_group(runtime: ProcessRuntime) -> ProcessGroup:
    return ProcessGroup(rank=runtime.rank, world_size=runtime.world_size, device=runtime.device)


def rank_of(group: ProcessGroup) -> int:
    return group.rank


def world_size_of(group: ProcessGroup) -> int:
    return group.world_size


def is_main(group: ProcessGroup) -> bool:
    return group.is_main


# Under torchrun (world size > 1) these put a distributed decorator around the object; in one
# process they hand the object back untouched, so a single-process run is exactly what it was.


def sharded(encoder: FeatureEncoder, group: ProcessGroup) -> FeatureEncoder:
    return ShardedEncoder(encoder, group) if group.distributed else encoder


def labels_from_rank_zero(labeler: PseudoLabeler, group: ProcessGroup) -> PseudoLabeler:
    return RankZeroLabeler(labeler, group) if group.distributed else labeler


def globally_updated(memory: Any, group: ProcessGroup) -> Any:
    return GlobalMemoryUpdate(memory, group) if group.distributed else memory


def sync_batchnorm_if(model: Any, enabled: bool, group: ProcessGroup) -> Any:
    return with_sync_batchnorm(model, group) if enabled else model


def stateful_only(**components: Any) -> dict[str, Any]:
    """Checkpoint components: whatever has a state (a plain DBSCAN labeler has none)."""
    return {name: c for name, c in components.items() if callable(getattr(c, "state_dict", None))}


# --- provider groups ----------------------------------------------------------------------------


def architecture(config: providers.Configuration) -> dict[str, Any]:
    """The ``[model]`` settings every ReID model is built with, as provider keyword arguments."""
    model = config.model
    return {
        "last_stride": model.last_stride,
        "pooling": model.pooling,
        "bnneck": model.bnneck,
        "dropout": model.dropout,
        "embedding_dim": model.embedding_dim,
        "pretrained": model.pretrained,
    }


def optimizer_selector(config: providers.Configuration, params: providers.Provider) -> providers.Selector:
    return providers.Selector(
        config.optimizer.kind,
        adam=providers.Singleton(
            build_optimizer, "adam", params, lr=config.optimizer.lr, weight_decay=config.optimizer.weight_decay
        ),
        sgd=providers.Singleton(
            build_optimizer,
            "sgd",
            params,
            lr=config.optimizer.lr,
            weight_decay=config.optimizer.weight_decay,
            momentum=config.optimizer.momentum,
        ),
    )


def scheduler_selector(config: providers.Configuration, optimizer: providers.Provider) -> providers.Selector:
    return providers.Selector(
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


def encoder_provider(config: providers.Configuration, core: Any, model: providers.Provider) -> providers.Provider:
    """The model's encoder; under torchrun each rank encodes a shard and all receive every row."""
    return providers.Singleton(
        sharded,
        providers.Singleton(
            TorchFeatureEncoder,
            model,
            core.test_transform,
            batch_size=config.eval.batch_size,
            device=providers.Callable(device_of, core.runtime),
            num_workers=config.input.num_workers,
            flip_augment=config.eval.flip,
            progress=providers.Callable(progress_callback, "features", providers.Callable(is_main, core.processes)),
        ),
        core.processes,
    )


def replicated(config: providers.Configuration, core: Any, model: providers.Provider) -> providers.Provider:
    """A freshly built model as the run trains it: with SyncBatchNorm when ``runtime.sync_bn``
    asks for it under torchrun (after any DSBN conversion, which ``model`` has done)."""
    return providers.Singleton(sync_batchnorm_if, model, config.runtime.sync_bn, core.processes)


def checkpointer_provider(config: providers.Configuration, components: providers.Provider) -> providers.Provider:
    return providers.Singleton(
        MainProcessCheckpointer,
        providers.Singleton(TorchCheckpointer, providers.Callable(checkpoint_dir, config.runtime.work_dir), components),
    )


def observer_provider(config: providers.Configuration) -> providers.Provider:
    return providers.Singleton(
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


def schedule_provider(config: providers.Configuration) -> providers.Provider:
    return providers.Singleton(Schedule, epochs=config.train.epochs, eval_every=config.train.eval_every)

"""The training runtime every method composes: the process, how its steps run, what a run reports
and where it keeps its checkpoints."""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import structlog

from dependency_injector import containers, providers

from reidkit.adapters.data.loading import loader_options, ranks_on_this_machine
from reidkit.adapters.runtime.checkpoint import AtomicFiles, TorchCheckpointer
from reidkit.adapters.runtime.collectives import ProcessGroup
from reidkit.adapters.runtime.distributed import MainProcessCheckpointer, MainProcessObserver
from reidkit.adapters.runtime.observers import (
    CompositeObserver,
    LoggingObserver,
    MetricsFileObserver,
    ProgressObserver,
    TensorboardObserver,
)
from reidkit.adapters.runtime.replication import replicas_for
from reidkit.adapters.losses.weighted import MaskRegression, id_and_triplet_losses
from reidkit.adapters.steps.base import StepRuntime
from reidkit.adapters.steps.optim import WarmupSchedule, build_optimizer
from reidkit.adapters.steps.precision import amp_choice
from reidkit.application.epoch_loop import EpochLoop, Schedule
from reidkit.application.evaluate import evaluations as evaluations_for, pick_domain
from reidkit.domain.types import ReidDataset
from reidkit.entrypoints.runtime import process_runtime


class TrainingRuntime(containers.DeclarativeContainer):
    """``process`` is the Resource the App starts (threads, logging, seeds, device, and the process
    group under torchrun); everything else follows from it and the profile."""

    config = providers.Configuration(strict=True)

    process = providers.Resource(
        process_runtime,
        seed=config.seed,
        threads=config.runtime.threads,
        device=config.runtime.device,
        run_dir=config.runtime.work_dir,
        timeout_s=config.runtime.collective_timeout_s,
        quiet=config.runtime.quiet,
    )
    # rank and world size as the adapters see them; one process outside torchrun
    group = providers.Singleton(
        ProcessGroup,
        rank=process.provided.rank,
        world_size=process.provided.world_size,
        device=process.provided.device,
    )
    steps = providers.Singleton(
        StepRuntime,
        device=process.provided.device,
        amp=providers.Callable(amp_choice, config.train.amp, config.train.amp_dtype, process.provided.device),
        seed=config.seed,
        replicas=providers.Singleton(replicas_for, group),
        skips_bad_steps=providers.Callable(bool, config.train.max_bad_steps),
    )
    schedule = providers.Singleton(
        Schedule, epochs=config.train.epochs, eval_every=config.train.eval_every, eval_start=config.train.eval_start
    )
    # how every DataLoader of the run loads ([input] num_workers, resolved for the device once)
    loading = providers.Singleton(
        loader_options,
        config.input.num_workers,
        process.provided.device,
        local_ranks=providers.Callable(ranks_on_this_machine),
    )

    run_folder = providers.Factory(Path, config.runtime.work_dir)
    observers = providers.List(
        providers.Singleton(LoggingObserver, log_every=config.train.log_every),
        providers.Singleton(ProgressObserver, enabled=providers.Callable(operator.not_, config.runtime.quiet)),
        providers.Singleton(
            TensorboardObserver,
            providers.Factory(Path, config.runtime.work_dir, "events"),
            log_every=config.train.log_every,
        ),
        providers.Singleton(MetricsFileObserver, config.runtime.work_dir),
    )
    observer = providers.Singleton(MainProcessObserver, providers.Singleton(CompositeObserver, observers))

    # how checkpoint files are written (a test or fault-injection harness may trace it)
    checkpoint_files = providers.Singleton(AtomicFiles)


def run_checkpointer(training: providers.Container, components: providers.Provider) -> providers.Singleton:
    """A run's checkpointer over ``components`` (name -> Stateful): rank 0 writes, every rank
    restores, and each checkpoint carries the run's resolved profile."""
    return providers.Singleton(
        MainProcessCheckpointer,
        providers.Singleton(
            TorchCheckpointer,
            providers.Factory(Path, training.config.runtime.work_dir, "checkpoints"),
            components,
            files=training.checkpoint_files,
            metadata=providers.Dict(profile=training.config),
        ),
    )


def stateful(**components: Any) -> dict[str, Any]:
    """Checkpoint components by name: each one that has a state (a plain labeler or a head
    without source rows has none); a sequence's items are numbered (``refiners_0``, ...)."""
    found: dict[str, Any] = {}
    for name, component in components.items():
        items = (
            {f"{name}_{index}": item for index, item in enumerate(component)}
            if isinstance(component, list | tuple)
            else {name: component}
        )
        found.update({key: item for key, item in items.items() if callable(getattr(item, "state_dict", None))})
    return found


def run_evaluations(config: providers.Configuration, data: providers.Container, encoder: providers.Provider) -> providers.Singleton:
    """``eval.domains`` scored with ``encoder``, the first selecting the best checkpoint."""
    return providers.Singleton(scored_domains, encoder, data.evaluator, data.domains, config.eval.domains)


def scored_domains(encoder: Any, evaluator: Any, domains: Mapping[str, ReidDataset], names: Sequence[str]) -> dict[str, Any]:
    """The Evaluate of each of ``names`` that has a query and a gallery; a domain without them
    (unlabelled data) is not evaluated, and the log says so (with none left, best.pt is the
    newest epoch)."""
    evaluable = [name for name in names if pick_domain(domains, name).query and pick_domain(domains, name).gallery]
    for name in names:
        if name not in evaluable:
            structlog.get_logger("reidkit").warning(
                "not evaluated: the domain has no query and gallery (unlabelled data)",
                domain=name,
                best_model="the newest epoch" if not evaluable else f"by {evaluable[0]}",
            )
    return evaluations_for(encoder, evaluator, domains, evaluable)


def optimizer_for(config: providers.Configuration, params: providers.Provider) -> providers.Selector:
    """The ``[optimizer]`` over ``params`` (a module: biases get their own group)."""
    settings = config.optimizer
    return providers.Selector(
        settings.kind,
        adam=providers.Singleton(build_optimizer, "adam", params, lr=settings.lr, weight_decay=settings.weight_decay),
        sgd=providers.Singleton(
            build_optimizer, "sgd", params, lr=settings.lr, weight_decay=settings.weight_decay, momentum=settings.momentum
        ),
    )


def scheduler_for(config: providers.Configuration, optimizer: providers.Provider) -> providers.Selector:
    """The ``[scheduler]``: warm-up, then steps or a cosine to ``train.epochs``."""
    settings = config.scheduler
    return providers.Selector(
        settings.kind,
        step=providers.Singleton(
            WarmupSchedule,
            optimizer,
            kind="step",
            warmup_epochs=settings.warmup_epochs,
            warmup_factor=settings.warmup_factor,
            milestones=settings.milestones,
            gamma=settings.gamma,
        ),
        cosine=providers.Singleton(
            WarmupSchedule,
            optimizer,
            kind="cosine",
            warmup_epochs=settings.warmup_epochs,
            warmup_factor=settings.warmup_factor,
            max_epochs=config.train.epochs,
            min_lr=settings.min_lr,
        ),
    )


def supervised_losses(config: providers.Configuration) -> providers.Callable:
    """The ``[loss]`` table as the weighted losses of a SupervisedStep (a zero weight leaves its
    loss out: UDA_TP trains with the triplet alone)."""
    loss = config.loss
    return providers.Callable(
        id_and_triplet_losses,
        ce_weight=loss.ce_weight,
        label_smoothing=loss.label_smoothing,
        triplet_weight=loss.triplet_weight,
        triplet_margin=loss.triplet_margin,
        soft_margin=loss.soft_margin,
        triplet_on=loss.triplet_on,
        triplet_kind=loss.triplet_kind,
        mask_weight=loss.mask_weight,
        mask=providers.Singleton(
            MaskRegression,
            kind=loss.mask_loss,
            sigma_ratio=loss.mask_sigma_ratio,
            threshold=loss.mask_threshold,
            background_weight=loss.mask_background_weight,
            gamma=loss.mask_gamma,
        ),
    )


def epoch_loop(
    training: providers.Container, *, batches: Any, step: Any, checkpointer: Any, evaluations: Any, loop: type = EpochLoop
) -> providers.Factory:
    """The epoch loop over a method's batches and step, with the run's observer and schedule
    (``loop``: EpochLoop, or a use-case that is one, such as SupervisedTrain)."""
    return providers.Factory(
        loop,
        batches=batches,
        step=step,
        checkpointer=checkpointer,
        observer=training.observer,
        schedule=training.schedule,
        evaluations=evaluations,
        max_bad_steps=training.config.train.max_bad_steps,
    )

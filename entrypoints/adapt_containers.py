"""Method containers of the pseudo-label methods: each is ClusterAdapt with its own strategies.

``AdaptBase`` wires what they share (the unlabelled train set, model, encoder, P x K batches over
this epoch's pseudo labels, label scorer, evaluations, observers); a method container adds its
optimiser, step, label consumers and what it clusters. No method branches anywhere: a method is
its container plus a profile.
"""

from __future__ import annotations

import operator
from typing import Any

from dependency_injector import containers, providers
from torch import nn

from reidkit.adapters.clustering.quality import TrueIdentityScorer
from reidkit.adapters.data.batches import LoaderBatchSource
from reidkit.adapters.data.datasets import ImageDataset
from reidkit.adapters.data.pseudo_batches import TARGET_DOMAIN, JointBatches, PseudoLabelledBatches
from reidkit.adapters.data.samplers import IdentitySampler
from reidkit.adapters.data.transforms import TwoViews
from reidkit.adapters.encoders.feature_sources import EncodedFeatures, MemoryFeatures
from reidkit.adapters.encoders.mean_features import MeanOfFeatures
from reidkit.adapters.memory.cluster_memory import ClusterMemory
from reidkit.adapters.memory.hybrid_memory import HybridMemory
from reidkit.adapters.models.backbone import ReidNet, build_reid_model
from reidkit.adapters.models.dsbn import convert_dsbn
from reidkit.adapters.models.heads import ClassifierReset, SourceClassRows, load_source_model
from reidkit.adapters.models.mean_teacher import mean_teacher_of
from reidkit.adapters.runtime.seeding import derive_seed
from reidkit.adapters.steps.mean_teach import MeanTeachStep
from reidkit.adapters.steps.memory_contrast import MemoryContrastStep
from reidkit.adapters.steps.supervised import SupervisedStep
from reidkit.application.cluster_adapt import ClusterAdapt
from reidkit.application.epoch_loop import EpochLoop
from reidkit.application.mean_teach import MeanTeach
from reidkit.domain.errors import ProfileError
from reidkit.domain.types import ReidDataset
from reidkit.entrypoints.wiring import (
    amp_enabled,
    architecture,
    checkpointer_provider,
    cross_entropy_or_none,
    device_of,
    encoder_provider,
    evaluations,
    globally_updated,
    labels_from_rank_zero,
    observer_provider,
    optimizer_selector,
    optional_training_split,
    rank_of,
    replicated,
    schedule_provider,
    scheduler_selector,
    stateful_only,
    train_labels,
    train_records,
    training_split,
    triplet_or_none,
    world_size_of,
)

# --- glue ---------------------------------------------------------------------------------------


def adapt_model(
    backbone: str,
    *,
    head: bool,
    last_stride: int,
    pooling: str,
    bnneck: bool,
    dropout: float,
    embedding_dim: int,
    pretrained: str,
    start_from: str,
    source_model: str,
    dsbn: bool,
) -> ReidNet:
    """The model adaptation starts from: a source-trained one or a fresh one; its classifier (if
    the method has one) is sized by each epoch's clusters; DSBN converted last, so both domains'
    BNs start from the source model's."""
    needed = {"pretrained": ("model.pretrained", pretrained), "source_model": ("adapt.source_model", source_model)}
    if start_from in needed and not needed[start_from][1]:
        raise ProfileError(
            f"adapt.start_from = '{start_from}' needs {needed[start_from][0]} (`reidkit adapt` trains "
            "adapt.pretrain_profile first when it is empty)"
        )
    model = build_reid_model(
        backbone,
        num_classes=1 if head else 0,
        last_stride=last_stride,
        pooling=pooling,
        bnneck=bnneck,
        dropout=dropout,
        embedding_dim=embedding_dim,
        pretrained=pretrained or None,
    )
    if start_from == "source_model":
        load_source_model(model, source_model)
    if dsbn:
        convert_dsbn(model, num_domains=2, target_domain=TARGET_DOMAIN)
    return model


def uses_head(ce_weight: float) -> bool:
    return ce_weight > 0


def stream_seed(seed: int, stream: str) -> int:
    return derive_seed(seed, stream) % 2**31


def source_records(dataset: ReidDataset | None) -> tuple:
    return dataset.train if dataset is not None else ()


def joint_or_target(
    source: LoaderBatchSource | None, target: PseudoLabelledBatches, target_label_offset: int = 0
) -> Any:
    if source is None:
        return target
    return JointBatches(source, target, target_label_offset=target_label_offset)


def source_class_count(dataset: ReidDataset | None) -> int:
    return dataset.num_train_pids if dataset is not None else 0


def source_rows_or_none(encoder: Any, dataset: ReidDataset | None) -> SourceClassRows | None:
    return SourceClassRows(encoder, dataset.train) if dataset is not None else None


def source_batches(
    dataset: ReidDataset | None, transform: Any, *, instances_per_id: int, ids_per_batch: int, num_batches: int,
    seed: int, num_workers: int, rank: int = 0, world_size: int = 1,
) -> LoaderBatchSource | None:
    if dataset is None:
        return None
    sampler = IdentitySampler(
        train_labels(dataset),
        instances_per_id,
        ids_per_batch,
        seed=seed,
        num_batches=num_batches,
        camids=[r.camid for r in dataset.train],
        rank=rank,
        world_size=world_size,
    )
    return LoaderBatchSource(
        ImageDataset(dataset.train, transform),
        sampler,
        sampler.batch_size,
        seed=seed,
        num_workers=num_workers,
        rank=rank,
    )


def head_then_batches(head: ClassifierReset, batches: PseudoLabelledBatches, ce_weight: float) -> list:
    """UDA_TP trains with the triplet loss alone, so it has no head to resize."""
    return [head, batches] if uses_head(ce_weight) else [batches]


def peer_model(
    backbone: str, *, peer_start: str, peer_source_model: str, source_model: str, **settings: Any
) -> ReidNet:
    """MMT's second student: from its own source model, or the same start as the first."""
    chosen = source_model
    if peer_start == "second_pretraining":
        if not peer_source_model:
            raise ProfileError(
                "mean_teach.peer_start = 'second_pretraining' needs mean_teach.peer_source_model "
                "(`reidkit adapt` pre-trains it with seed + 1 when it is empty)"
            )
        chosen = peer_source_model
    return adapt_model(backbone, source_model=chosen, **settings)


def students(first: nn.Module, second: nn.Module) -> nn.Module:
    return nn.ModuleList([first, second])


def trainable(model: nn.Module, memory: nn.Module) -> nn.Module:
    """The optimiser's parameters: the model's, plus a memory's learnable temperature if any."""
    return nn.ModuleDict({"model": model, "memory": memory})


def cluster_memory(feature_dim_of: ReidNet, **settings: Any) -> ClusterMemory:
    return ClusterMemory(feature_dim_of.feature_dim, **settings)


def hybrid_memory(feature_dim_of: ReidNet, **settings: Any) -> HybridMemory:
    return HybridMemory(feature_dim_of.feature_dim, **settings)


# --- provider groups ----------------------------------------------------------------------------


def cluster_adapt_provider(
    base: Any,
    *,
    batches: Any,
    step: Any,
    checkpointer: Any,
    features: Any,
    consumers: Any,
    evaluations: Any = None,
    use_case: type = ClusterAdapt,
) -> providers.Factory:
    """The use-case every method container ends with: its strategies in ClusterAdapt's slots."""
    return providers.Factory(
        use_case,
        loop=providers.Factory(
            EpochLoop,
            batches=batches,
            step=step,
            checkpointer=checkpointer,
            observer=base.observer,
            schedule=base.schedule,
            evaluations=evaluations if evaluations is not None else base.evaluations,
        ),
        features=features,
        labeler=providers.Callable(labels_from_rank_zero, base.core.pseudo_labeler, base.core.processes),
        consumers=consumers,
        scorer=base.scorer,
    )


def batch_shape(config: Any, core: Any) -> dict[str, Any]:
    """P x K from ``[train]``, batches per epoch, loader workers, and this rank's share under
    torchrun: the keyword arguments every batch source of an adaptation run takes."""
    return {
        "instances_per_id": config.train.instances_per_id,
        "ids_per_batch": config.train.ids_per_batch,
        "num_batches": config.train.iters_per_epoch,
        "num_workers": config.input.num_workers,
        "rank": providers.Callable(rank_of, core.processes),
        "world_size": providers.Callable(world_size_of, core.processes),
    }


def source_batches_provider(config: Any, core: Any, dataset: Any, transform: Any) -> providers.Singleton:
    """P x K batches of the labelled ``adapt.source_domain`` (None without one), sized like the
    target's."""
    return providers.Singleton(
        source_batches,
        dataset,
        transform,
        seed=providers.Callable(stream_seed, config.seed, "source-batches"),
        **batch_shape(config, core),
    )


def pseudo_batches_provider(config: Any, core: Any, records: Any, transform: Any) -> providers.Singleton:
    """P x K batches over this epoch's pseudo labels, sized by the ``[train]`` settings (each rank
    its share of every step's identities under torchrun)."""
    return providers.Singleton(
        PseudoLabelledBatches,
        records,
        transform,
        seed=config.seed,
        singletons_once=providers.Callable(operator.eq, config.train.singletons, "once"),
        **batch_shape(config, core),
    )


def memory_step_provider(base: Any, optimizer: Any, scheduler: Any, memory: Any) -> providers.Singleton:
    """The memory as the step sees it: updated with the global batch under torchrun."""
    return providers.Singleton(
        MemoryContrastStep,
        base.model,
        optimizer,
        providers.Callable(globally_updated, memory, base.core.processes),
        scheduler=scheduler,
        device=base.device,
        amp=base.amp,
        seed=base.config.seed,
        replicas=base.core.replicas,
    )


# --- containers ---------------------------------------------------------------------------------


class AdaptBase(containers.DeclarativeContainer):
    """What every pseudo-label method shares. ``train.domain`` is the unlabelled domain."""

    config = providers.Configuration(strict=True)
    core = providers.DependenciesContainer()

    train_set = providers.Singleton(
        training_split, core.domains, config.train.domain, config.data.unreadable, config.runtime.work_dir
    )
    source_set = providers.Singleton(
        optional_training_split, core.domains, config.adapt.source_domain, config.data.unreadable, config.runtime.work_dir
    )

    model = replicated(
        config,
        core,
        providers.Singleton(
            adapt_model,
            config.model.backbone,
            head=providers.Callable(uses_head, config.loss.ce_weight),
            **architecture(config),
            start_from=config.adapt.start_from,
            source_model=config.adapt.source_model,
            dsbn=config.model.dsbn,
        ),
    )

    encoder = encoder_provider(config, core, model)
    cluster_features = providers.Singleton(EncodedFeatures, encoder, providers.Callable(train_records, train_set))

    target_batches = pseudo_batches_provider(
        config, core, providers.Callable(train_records, train_set), core.train_transform
    )
    # the labelled domain trained alongside the target (adapt.source_domain), None without one
    source_domain_batches = source_batches_provider(config, core, source_set, core.train_transform)

    scorer = providers.Singleton(TrueIdentityScorer, providers.Callable(train_labels, train_set))
    evaluations = providers.Singleton(evaluations, encoder, core.evaluator, core.domains, config.eval.domains)
    observer = observer_provider(config)
    schedule = schedule_provider(config)
    device = providers.Callable(device_of, core.runtime)
    amp = providers.Callable(amp_enabled, config.train.amp, core.runtime, config.train.amp_dtype)


class ClusterBaselineContainer(AdaptBase):
    """The strong cluster baseline (OpenUnReID's ``strong_baseline``, MMT §3.1) and UDA_TP: per
    epoch a classifier head from the cluster centroids, then CE + triplet on the pseudo labels
    (UDA_TP: triplet only, ``loss.ce_weight = 0``, no head)."""

    optimizer = optimizer_selector(AdaptBase.config, AdaptBase.model)
    scheduler = scheduler_selector(AdaptBase.config, optimizer)

    step = providers.Singleton(
        SupervisedStep,
        model=AdaptBase.model,
        optimizer=optimizer,
        scheduler=scheduler,
        cross_entropy=providers.Callable(
            cross_entropy_or_none, AdaptBase.config.loss.label_smoothing, AdaptBase.config.loss.ce_weight
        ),
        triplet=providers.Callable(
            triplet_or_none,
            AdaptBase.config.loss.triplet_margin,
            AdaptBase.config.loss.soft_margin,
            AdaptBase.config.loss.triplet_weight,
        ),
        ce_weight=AdaptBase.config.loss.ce_weight,
        triplet_weight=AdaptBase.config.loss.triplet_weight,
        triplet_on=AdaptBase.config.loss.triplet_on,
        device=AdaptBase.device,
        amp=AdaptBase.amp,
        seed=AdaptBase.config.seed,
        replicas=AdaptBase.core.replicas,
    )

    source_rows = providers.Singleton(source_rows_or_none, AdaptBase.encoder, AdaptBase.source_set)

    consumers = providers.Callable(
        head_then_batches,
        providers.Singleton(
            ClassifierReset,
            AdaptBase.model,
            optimizer,
            reset_optimizer=AdaptBase.config.adapt.reset_optimizer,
            source=source_rows,
        ),
        AdaptBase.target_batches,
        AdaptBase.config.loss.ce_weight,
    )

    # UDA with adapt.source_domain (OpenUnReID's strong baseline): source identities and target
    # clusters in one label space, the source's first
    batches = providers.Singleton(
        joint_or_target,
        AdaptBase.source_domain_batches,
        AdaptBase.target_batches,
        providers.Callable(source_class_count, AdaptBase.source_set),
    )

    checkpointer = checkpointer_provider(
        AdaptBase.config, providers.Callable(stateful_only, step=step, source_rows=source_rows)
    )

    use_case = cluster_adapt_provider(
        AdaptBase,
        batches=batches,
        step=step,
        checkpointer=checkpointer,
        features=AdaptBase.cluster_features,
        consumers=consumers,
    )


class SpclContainer(AdaptBase):
    """SpCL: a hybrid memory of source class centroids (UDA) and every target instance; the memory
    itself is clustered (self-paced reliability via ``pseudo_labeler.self_paced``); the unified
    contrastive loss trains on source and target batches together in UDA."""

    memory = providers.Singleton(
        hybrid_memory,
        AdaptBase.model,
        temperature=AdaptBase.config.memory.temperature,
        momentum=AdaptBase.config.memory.momentum,
    )

    optimizer = optimizer_selector(AdaptBase.config, AdaptBase.model)
    scheduler = scheduler_selector(AdaptBase.config, optimizer)

    step = memory_step_provider(AdaptBase, optimizer, scheduler, memory)

    cluster_features = providers.Singleton(
        MemoryFeatures,
        memory,
        AdaptBase.encoder,
        providers.Callable(train_records, AdaptBase.train_set),
        providers.Callable(source_records, AdaptBase.source_set),
        refresh=AdaptBase.config.memory.refresh_instances,
    )

    batches = providers.Singleton(joint_or_target, AdaptBase.source_domain_batches, AdaptBase.target_batches)

    checkpointer = checkpointer_provider(
        AdaptBase.config,
        providers.Callable(stateful_only, step=step, memory=memory, labeler=AdaptBase.core.pseudo_labeler),
    )

    use_case = cluster_adapt_provider(
        AdaptBase,
        batches=batches,
        step=step,
        checkpointer=checkpointer,
        features=cluster_features,
        consumers=providers.List(memory, AdaptBase.target_batches),
    )


class ClusterContrastContainer(AdaptBase):
    """Cluster Contrast: a memory of cluster centroids rebuilt from fresh features every epoch,
    outliers left out of training, InfoNCE against the centroids, momentum update with every
    sample (``memory.update_rule = "mean"``) or the hardest per cluster (``"hard"``)."""

    memory = providers.Singleton(
        cluster_memory,
        AdaptBase.model,
        temperature=AdaptBase.config.memory.temperature,
        momentum=AdaptBase.config.memory.momentum,
        update=AdaptBase.config.memory.update_rule,
        learn_temperature=AdaptBase.config.memory.learn_temperature,
    )

    optimizer = optimizer_selector(AdaptBase.config, providers.Singleton(trainable, AdaptBase.model, memory))
    scheduler = scheduler_selector(AdaptBase.config, optimizer)

    step = memory_step_provider(AdaptBase, optimizer, scheduler, memory)

    checkpointer = checkpointer_provider(AdaptBase.config, providers.Dict(step=step, memory=memory))

    use_case = cluster_adapt_provider(
        AdaptBase,
        batches=AdaptBase.target_batches,
        step=step,
        checkpointer=checkpointer,
        features=AdaptBase.cluster_features,
        consumers=providers.List(memory, AdaptBase.target_batches),
    )


class MeanTeachContainer(AdaptBase):
    """Mutual Mean-Teaching (MMT): two students (the second from its own source model when
    ``mean_teach.peer_start = "second_pretraining"``), each with a mean teacher; clustering on the
    mean of both teachers' features; four heads reset from the centroids each epoch; evaluation
    with the first mean teacher."""

    student_2 = replicated(
        AdaptBase.config,
        AdaptBase.core,
        providers.Singleton(
            peer_model,
            AdaptBase.config.model.backbone,
            peer_start=AdaptBase.config.mean_teach.peer_start,
            peer_source_model=AdaptBase.config.mean_teach.peer_source_model,
            source_model=AdaptBase.config.adapt.source_model,
            head=True,
            **architecture(AdaptBase.config),
            start_from=AdaptBase.config.adapt.start_from,
            dsbn=AdaptBase.config.model.dsbn,
        ),
    )
    teacher_1 = providers.Singleton(mean_teacher_of, AdaptBase.model)
    teacher_2 = providers.Singleton(mean_teacher_of, student_2)

    optimizer = optimizer_selector(AdaptBase.config, providers.Singleton(students, AdaptBase.model, student_2))
    scheduler = scheduler_selector(AdaptBase.config, optimizer)

    step = providers.Singleton(
        MeanTeachStep,
        providers.List(AdaptBase.model, student_2),
        providers.List(teacher_1, teacher_2),
        optimizer,
        scheduler=scheduler,
        label_smoothing=AdaptBase.config.loss.label_smoothing,
        soft_ce_weight=AdaptBase.config.loss.soft_ce_weight,
        soft_triplet_weight=AdaptBase.config.loss.soft_triplet_weight,
        teacher_momentum=AdaptBase.config.mean_teach.teacher_momentum,
        triplet_on=AdaptBase.config.loss.triplet_on,
        device=AdaptBase.device,
        amp=AdaptBase.amp,
        seed=AdaptBase.config.seed,
        replicas=AdaptBase.core.replicas,
    )

    teacher_encoder_1 = encoder_provider(AdaptBase.config, AdaptBase.core, teacher_1)
    teacher_encoder_2 = encoder_provider(AdaptBase.config, AdaptBase.core, teacher_2)
    records = providers.Callable(train_records, AdaptBase.train_set)
    cluster_features = providers.Singleton(
        MeanOfFeatures,
        providers.List(
            providers.Singleton(EncodedFeatures, teacher_encoder_1, records),
            providers.Singleton(EncodedFeatures, teacher_encoder_2, records),
        ),
    )

    views = providers.Singleton(TwoViews, AdaptBase.core.train_transform)
    target_views = pseudo_batches_provider(AdaptBase.config, AdaptBase.core, records, views)
    # with adapt.source_domain (OpenUnReID's MMT+ trains on the source too): source batches beside
    # the target's, one head per model over the source identities and the clusters
    batches = providers.Singleton(
        joint_or_target,
        source_batches_provider(AdaptBase.config, AdaptBase.core, AdaptBase.source_set, views),
        target_views,
        providers.Callable(source_class_count, AdaptBase.source_set),
    )
    student_encoder_2 = encoder_provider(AdaptBase.config, AdaptBase.core, student_2)
    # the source rows of each model's head (the students', then the teachers'), checkpointed
    source_rows_1 = providers.Singleton(source_rows_or_none, AdaptBase.encoder, AdaptBase.source_set)
    source_rows_2 = providers.Singleton(source_rows_or_none, student_encoder_2, AdaptBase.source_set)
    source_rows_3 = providers.Singleton(source_rows_or_none, teacher_encoder_1, AdaptBase.source_set)
    source_rows_4 = providers.Singleton(source_rows_or_none, teacher_encoder_2, AdaptBase.source_set)

    reset_optimizer = AdaptBase.config.adapt.reset_optimizer
    consumers = providers.List(
        providers.Singleton(ClassifierReset, AdaptBase.model, optimizer, reset_optimizer=reset_optimizer, source=source_rows_1),
        providers.Singleton(ClassifierReset, student_2, optimizer, reset_optimizer=reset_optimizer, source=source_rows_2),
        providers.Singleton(ClassifierReset, teacher_1, None, reset_optimizer=False, source=source_rows_3),
        providers.Singleton(ClassifierReset, teacher_2, None, reset_optimizer=False, source=source_rows_4),
        target_views,
    )

    teacher_evaluations = providers.Singleton(
        evaluations, teacher_encoder_1, AdaptBase.core.evaluator, AdaptBase.core.domains, AdaptBase.config.eval.domains
    )
    checkpointer = checkpointer_provider(
        AdaptBase.config,
        providers.Callable(
            stateful_only,
            step=step,
            source_rows_1=source_rows_1,
            source_rows_2=source_rows_2,
            source_rows_3=source_rows_3,
            source_rows_4=source_rows_4,
        ),
    )

    use_case = cluster_adapt_provider(
        AdaptBase,
        batches=batches,
        step=step,
        checkpointer=checkpointer,
        features=cluster_features,
        consumers=consumers,
        evaluations=teacher_evaluations,
        use_case=MeanTeach,
    )

"""What every pseudo-label method composes: the unlabelled target, its labeler and refiners (run
on rank 0 under torchrun), the label scorer, P x K batches over each epoch's labels, and the
labelled source trained alongside them, or none.

USL and UDA differ here only by ``adapt.source_domain``: ``mode`` is "labelled" or "none", and
every provider that differs is a Selector on it (the label space, the batches, the source rows
of a head, the source records of a memory).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from dependency_injector import containers, providers

from reidkit.adapters.clustering.gcn_links import GcnLinkRefiner
from reidkit.adapters.clustering.knn import IvfKnn
from reidkit.adapters.clustering.quality import TrueIdentityScorer
from reidkit.adapters.data.batches import identity_batches
from reidkit.adapters.data.pseudo_batches import JointBatches, PseudoLabelledBatches
from reidkit.adapters.memory.global_update import GlobalMemoryUpdate
from reidkit.adapters.models.heads import NoSourceRows, SourceClassRows
from reidkit.adapters.runtime.collectives import ProcessGroup
from reidkit.adapters.runtime.distributed import RankZeroCorrector, RankZeroLabeler, RankZeroRefiner
from reidkit.adapters.steps.base import OptimizingStep
from reidkit.adapters.steps.restart import RestartFromStart
from reidkit.application.cluster_adapt import ClusterAdapt, Correction
from reidkit.domain.ports import LabelCorrector, LabelRefiner
from reidkit.domain.types import LabelSpace, ReidDataset
from reidkit.entrypoints.clustering import Clustering
from reidkit.entrypoints.parts.data import training_split
from reidkit.entrypoints.parts.keys import source_mode, switch
from reidkit.entrypoints.parts.training import epoch_loop


def initial_classes(ce_weight: float) -> int:
    """The classes an adaptation model is built with: 1 (a head each epoch's clusters resize)
    while the ID loss has a weight, else none. The memory methods never train that head; it is
    built all the same, as before the redesign (its random initialisation draws move every
    later draw, so dropping it would change every memory method's numbers)."""
    return 1 if ce_weight > 0 else 0


def refined_on_rank_zero(refiners: Sequence[LabelRefiner], group: ProcessGroup) -> list[LabelRefiner]:
    return [RankZeroRefiner(refiner, group) for refiner in refiners]


def glc_correction(corrector: LabelCorrector, settings: dict[str, Any], epochs: int, step: OptimizingStep) -> Correction:
    """``[correct]`` (kind "glc") as the use-case's Correction: its epochs counted from 0, and the
    step restarted from its starting weights when the table names restart epochs. A schedule
    that starts after the run's last epoch is allowed (a shortened run of a GLC profile) and said."""
    if settings["first_epoch"] > epochs:
        structlog.get_logger(__name__).warning(
            "no epoch is corrected", first_epoch=settings["first_epoch"], epochs=epochs
        )
    restarts = [e - 1 for e in settings["restart_epochs"]]
    return Correction(
        corrector=corrector,
        first=settings["first_epoch"] - 1,
        every=settings["every"],
        restart_epochs=restarts,
        restarts=[RestartFromStart(step)] if restarts else [],
    )


def identity_scorer(train_set: ReidDataset) -> TrueIdentityScorer | None:
    """Scores pseudo labels against the training split's identities, where it has them."""
    return TrueIdentityScorer(train_set.train_pids) if train_set.identities_known else None


class Adaptation(containers.DeclarativeContainer):
    """``transform`` is what the batches augment with (MMT: two views)."""

    config = providers.Configuration(strict=True)
    training = providers.DependenciesContainer()
    data = providers.DependenciesContainer()
    transform = providers.Dependency()

    clustering = providers.Container(Clustering, config=config, device=training.process.provided.device)
    labeler = providers.Selector(
        training.group.provided.topology,
        single=clustering.labeler,
        distributed=providers.Singleton(RankZeroLabeler, clustering.labeler, training.group),
    )
    refiners = providers.Selector(
        training.group.provided.topology,
        single=clustering.refiners,
        distributed=providers.Callable(refined_on_rank_zero, clustering.refiners, training.group),
    )
    # GLC's correction network (``[correct] kind = "glc"``): on the training device, rank 0 under torchrun
    glc = providers.Singleton(
        GcnLinkRefiner,
        knn=providers.Selector(
            providers.Callable(switch, config.correct.approximate),
            on=providers.Singleton(IvfKnn),
            off=clustering.exact_knn,
        ),
        k=config.correct.k,
        hidden=config.correct.hidden,
        cluster_num=config.correct.cluster_num,
        member_fraction=config.correct.member_fraction,
        epochs=config.correct.epochs,
        subgraphs_per_epoch=config.correct.subgraphs_per_epoch,
        edge_chunks=config.correct.edge_chunks,
        passes=config.correct.passes,
        min_subgraph_size=config.correct.min_subgraph_size,
        optimizer=config.correct.optimizer,
        lr=config.correct.lr,
        momentum=config.correct.momentum,
        weight_decay=config.correct.weight_decay,
        gamma=config.correct.gamma,
        link_threshold=config.correct.link_threshold,
        shared_threshold=config.correct.shared_threshold,
        min_cluster_size=config.correct.min_cluster_size,
        seed=config.seed,
        device=training.process.provided.device,
    )
    corrector = providers.Selector(
        training.group.provided.topology,
        single=glc,
        distributed=providers.Singleton(RankZeroCorrector, glc, training.group),
    )
    # diagnostics only: the embedded data knows who is who, the method never sees it (none for
    # unlabelled images, whose pids stand for no identity)
    scorer = providers.Singleton(identity_scorer, data.train_set)

    head_classes = providers.Callable(initial_classes, config.loss.ce_weight)
    # where the model starts: the source model (UDA), else model.pretrained or random (USL)
    source_model = providers.Selector(
        config.adapt.start_from,
        source_model=config.adapt.source_model,
        pretrained=providers.Object(""),
        scratch=providers.Object(""),
    )

    target_batches = providers.Singleton(
        PseudoLabelledBatches,
        data.train_set.provided.train,
        transform,
        instances_per_id=config.train.instances_per_id,
        ids_per_batch=config.train.ids_per_batch,
        num_batches=config.train.iters_per_epoch,
        seed=config.seed,
        loading=training.loading,
        rank=training.group.provided.rank,
        world_size=training.group.provided.world_size,
        singletons=config.train.singletons,
    )

    mode = providers.Callable(source_mode, config.adapt.source_domain)
    source_set = providers.Singleton(
        training_split,
        data.domains,
        config.adapt.source_domain,
        config.data.unreadable,
        config.runtime.work_dir,
        config.runtime.quiet,
    )
    # source identities first, then the target's clusters (SpCL's memory, shared heads)
    label_space = providers.Selector(
        mode,
        labelled=providers.Singleton(LabelSpace, source_set.provided.num_train_pids),
        none=providers.Object(LabelSpace()),
    )
    source_records = providers.Selector(mode, labelled=source_set.provided.train, none=providers.Object(()))
    # every step: a source batch (P x K, sized like the target's) then a target batch
    batches = providers.Selector(
        mode,
        labelled=providers.Singleton(
            JointBatches,
            providers.Singleton(
                identity_batches,
                source_set.provided.train,
                transform,
                ids_per_batch=config.train.ids_per_batch,
                instances_per_id=config.train.instances_per_id,
                seed=config.seed,
                stream="source-batches",
                num_batches=config.train.iters_per_epoch,
                camera_aware=True,
                loading=training.loading,
                rank=training.group.provided.rank,
                world_size=training.group.provided.world_size,
            ),
            target_batches,
            label_space,
        ),
        none=target_batches,
    )


def source_rows(adaptation: providers.Container, encoder: providers.Provider) -> providers.Selector:
    """The source identities' rows of a head over the source and the clusters (``encoder``
    makes their first centroids), or none."""
    return providers.Selector(
        adaptation.mode,
        labelled=providers.Singleton(
            SourceClassRows, encoder, adaptation.source_set.provided.train, adaptation.label_space
        ),
        none=providers.Singleton(NoSourceRows),
    )


def cluster_adapt(
    training: providers.Container,
    adaptation: providers.Container,
    *,
    batches: Any,
    step: Any,
    checkpointer: Any,
    features: Any,
    consumers: Any,
    evaluations: Any,
    use_case: type = ClusterAdapt,
) -> providers.Factory:
    """The use-case every pseudo-label method ends with: its strategies in ClusterAdapt's slots."""
    corrections = providers.Selector(
        adaptation.config.correct.kind,
        none=providers.List(),
        glc=providers.List(
            providers.Factory(glc_correction, adaptation.corrector, adaptation.config.correct, adaptation.config.train.epochs, step)
        ),
    )
    return providers.Factory(
        use_case,
        loop=epoch_loop(training, batches=batches, step=step, checkpointer=checkpointer, evaluations=evaluations),
        features=features,
        labeler=adaptation.labeler,
        refiners=adaptation.refiners,
        consumers=consumers,
        scorer=adaptation.scorer,
        corrections=corrections,
    )


def shared_memory(training: providers.Container, memory: providers.Provider) -> providers.Selector:
    """``memory`` as the step, the feature source and the epoch see it: under torchrun every rank
    updates it with the whole global batch."""
    return providers.Selector(
        training.group.provided.topology,
        single=memory,
        distributed=providers.Singleton(GlobalMemoryUpdate, memory, training.group),
    )

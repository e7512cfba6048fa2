"""Mutual Mean-Teaching (Ge et al., ICLR'20): two students, each with a mean teacher (their EMA);
per epoch the clusters of the mean of both teachers' features reset all four heads; each student
learns from the hard labels and from its peer's teacher (soft CE, soft softmax triplet), on two
augmented views; evaluation uses the first mean teacher."""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from attrs import field, frozen, validators as v

from reidkit.entrypoints.methods import MethodSpec, StartingModel


@frozen(kw_only=True)
class MeanTeachOptions:
    """The ``[mean_teach]`` table."""

    teacher_momentum: float = field(default=0.999, validator=[v.ge(0.0), v.lt(1.0)])
    # same: both students from the run's starting model; second_pretraining: student 2 from a
    # source model pre-trained with seed + 1 (MMT's "different initial states"), or peer_source_model
    peer_start: Literal["same", "second_pretraining"] = "same"
    peer_source_model: str = ""
    # each student's soft losses against its peer's teacher; 1 - weight goes to the hard losses
    soft_ce_weight: float = field(default=0.5, validator=[v.ge(0.0), v.le(1.0)])
    soft_triplet_weight: float = field(default=0.8, validator=[v.ge(0.0), v.le(1.0)])


def check(profile: Any, options: MeanTeachOptions) -> None:
    if options.peer_start == "second_pretraining" and profile.adapt.start_from != "source_model":
        raise ValueError("mean_teach.peer_start = 'second_pretraining' needs adapt.start_from = 'source_model'")
    if profile.model.head == "pcb":
        raise ValueError(
            "model.head = 'pcb' has a classifier per stripe, which MMT's per-epoch reset of its four heads "
            "does not resize yet; use model.head = 'bnneck'"
        )


def starting_models(options: MeanTeachOptions) -> tuple[StartingModel, ...]:
    if options.peer_start != "second_pretraining":
        return ()
    return (
        StartingModel(
            setting="mean_teach.peer_source_model",
            reason="mean_teach.peer_start = 'second_pretraining'",
            folder="pretrain_peer",
            label="peer source model",
            seed_offset=1,
        ),
    )


@cache
def container() -> type:
    """The method's container class, made on first use: it imports torch, and checking a profile
    (this module's settings included) must not wait for that."""
    from dependency_injector import containers, providers
    from torch import nn

    from reidkit.adapters.data.transforms import TwoViews
    from reidkit.adapters.encoders.feature_sources import EncodedFeatures
    from reidkit.adapters.encoders.mean_features import MeanOfFeatures
    from reidkit.adapters.models.heads import ClassifierReset
    from reidkit.adapters.models.mean_teacher import mean_teacher_of
    from reidkit.adapters.steps.mean_teach import MeanTeachStep
    from reidkit.application.mean_teach import MeanTeach
    from reidkit.entrypoints.parts.adaptation import Adaptation, cluster_adapt, source_rows
    from reidkit.entrypoints.parts.data import Data
    from reidkit.entrypoints.parts.model import ReidModel, feature_encoder
    from reidkit.entrypoints.parts.training import (
        TrainingRuntime,
        optimizer_for,
        run_checkpointer,
        run_evaluations,
        scheduler_for,
        stateful,
    )

    def students(first: nn.Module, second: nn.Module) -> nn.Module:
        return nn.ModuleList([first, second])

    class Peer(containers.DeclarativeContainer):
        """One student started from ``source_model``, its mean teacher, their encoders and the
        source rows of their heads."""

        config = providers.Configuration(strict=True)
        training = providers.DependenciesContainer()
        data = providers.DependenciesContainer()
        adaptation = providers.DependenciesContainer()
        source_model = providers.Dependency(instance_of=str)

        student = providers.Container(
            ReidModel,
            config=config,
            training=training,
            data=data,
            num_classes=adaptation.head_classes,
            source_model=source_model,
        )
        teacher = providers.Singleton(mean_teacher_of, student.model)
        teacher_encoder = feature_encoder(config, training, data, teacher)
        student_rows = source_rows(adaptation, student.encoder)
        teacher_rows = source_rows(adaptation, teacher_encoder)

    class MeanTeachContainer(containers.DeclarativeContainer):
        config = providers.Configuration(strict=True)
        training = providers.Container(TrainingRuntime, config=config)
        data = providers.Container(Data, config=config)
        adaptation = providers.Container(
            Adaptation,
            config=config,
            training=training,
            data=data,
            transform=providers.Singleton(TwoViews, data.train_transform),
        )
        peer_1 = providers.Container(
            Peer, config=config, training=training, data=data, adaptation=adaptation, source_model=adaptation.source_model
        )
        peer_2 = providers.Container(
            Peer,
            config=config,
            training=training,
            data=data,
            adaptation=adaptation,
            source_model=providers.Selector(
                config.mean_teach.peer_start,
                same=adaptation.source_model,
                second_pretraining=config.mean_teach.peer_source_model,
            ),
        )

        optimizer = optimizer_for(config, providers.Singleton(students, peer_1.student.model, peer_2.student.model))
        scheduler = scheduler_for(config, optimizer)
        step = providers.Singleton(
            MeanTeachStep,
            providers.List(peer_1.student.model, peer_2.student.model),
            providers.List(peer_1.teacher, peer_2.teacher),
            optimizer,
            scheduler=scheduler,
            runtime=training.steps,
            label_smoothing=config.loss.label_smoothing,
            soft_ce_weight=config.mean_teach.soft_ce_weight,
            soft_triplet_weight=config.mean_teach.soft_triplet_weight,
            teacher_momentum=config.mean_teach.teacher_momentum,
            triplet_on=config.loss.triplet_on,
        )

        # the clustering sees the mean of both teachers' features
        records = data.train_set.provided.train
        features = providers.Singleton(
            MeanOfFeatures,
            providers.List(
                providers.Singleton(EncodedFeatures, peer_1.teacher_encoder, records),
                providers.Singleton(EncodedFeatures, peer_2.teacher_encoder, records),
            ),
        )
        # the students' heads (trained, their optimiser state reset as the profile says), then the
        # teachers' (never trained), then the sampler
        reset_optimizer = config.adapt.reset_optimizer
        consumers = providers.List(
            providers.Singleton(
                ClassifierReset, peer_1.student.model, optimizer, reset_optimizer=reset_optimizer, source=peer_1.student_rows
            ),
            providers.Singleton(
                ClassifierReset, peer_2.student.model, optimizer, reset_optimizer=reset_optimizer, source=peer_2.student_rows
            ),
            providers.Singleton(ClassifierReset, peer_1.teacher, source=peer_1.teacher_rows),
            providers.Singleton(ClassifierReset, peer_2.teacher, source=peer_2.teacher_rows),
            adaptation.target_batches,
        )
        source_rows = providers.List(peer_1.student_rows, peer_2.student_rows, peer_1.teacher_rows, peer_2.teacher_rows)
        checkpointer = run_checkpointer(
            training,
            providers.Callable(stateful, step=step, source_rows=source_rows, refiners=adaptation.clustering.refiners),
        )

        use_case = cluster_adapt(
            training,
            adaptation,
            batches=adaptation.batches,
            step=step,
            checkpointer=checkpointer,
            features=features,
            consumers=consumers,
            evaluations=run_evaluations(config, data, peer_1.teacher_encoder),
            use_case=MeanTeach,
        )

    return MeanTeachContainer


METHOD = MethodSpec(
    name="mean_teach",
    summary="MMT: two students with mean teachers, each learning from its peer's teacher",
    container=container,
    options=MeanTeachOptions,
    starting_models=starting_models,
    check=check,
    evaluated_weights=("step", "teachers", 0),  # the first mean teacher, as evaluation uses
)

"""The strong cluster baseline (OpenUnReID's ``strong_baseline``, MMT section 3.1) and UDA_TP.

Per epoch: cluster the target's features, a classifier over the source identities (UDA with a
labelled source) and the clusters with its cluster rows from the centroids, then ID + triplet
on the pseudo labels. UDA_TP is the same method with ``loss.ce_weight = 0``: the triplet alone,
no classifier to reset.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from reidkit.entrypoints.methods import MethodSpec


def head_mode(ce_weight: float) -> str:
    """"classifier" when the ID loss trains one, else "none" (UDA_TP)."""
    return "classifier" if ce_weight > 0 else "none"


@cache
def container() -> type:
    """The method's container class, made on first use: it imports torch, and checking a profile
    (this module's settings included) must not wait for that."""
    from dependency_injector import containers, providers

    from reidkit.adapters.encoders.feature_sources import EncodedFeatures
    from reidkit.adapters.models.heads import ClassifierReset
    from reidkit.adapters.steps.supervised import SupervisedStep
    from reidkit.entrypoints.parts.adaptation import Adaptation, cluster_adapt, source_rows
    from reidkit.entrypoints.parts.data import Data
    from reidkit.entrypoints.parts.model import ReidModel
    from reidkit.entrypoints.parts.training import (
        TrainingRuntime,
        optimizer_for,
        run_checkpointer,
        run_evaluations,
        scheduler_for,
        stateful,
        supervised_losses,
    )

    class ClusterBaselineContainer(containers.DeclarativeContainer):
        config = providers.Configuration(strict=True)
        training = providers.Container(TrainingRuntime, config=config)
        data = providers.Container(Data, config=config)
        adaptation = providers.Container(
            Adaptation, config=config, training=training, data=data, transform=data.train_transform
        )

        head = providers.Callable(head_mode, config.loss.ce_weight)
        network = providers.Container(
            ReidModel,
            config=config,
            training=training,
            data=data,
            num_classes=adaptation.head_classes,
            source_model=adaptation.source_model,
        )
        optimizer = optimizer_for(config, network.model)
        scheduler = scheduler_for(config, optimizer)
        step = providers.Singleton(
            SupervisedStep, network.model, optimizer, supervised_losses(config), scheduler=scheduler, runtime=training.steps
        )

        rows = source_rows(adaptation, network.encoder)
        consumers = providers.Selector(
            head,
            classifier=providers.List(
                providers.Singleton(
                    ClassifierReset,
                    network.model,
                    optimizer,
                    reset_optimizer=config.adapt.reset_optimizer,
                    source=rows,
                ),
                adaptation.target_batches,
            ),
            none=providers.List(adaptation.target_batches),
        )
        checkpointer = run_checkpointer(training, providers.Callable(stateful, step=step, source_rows=rows, refiners=adaptation.clustering.refiners))

        use_case = cluster_adapt(
            training,
            adaptation,
            batches=adaptation.batches,
            step=step,
            checkpointer=checkpointer,
            features=providers.Singleton(EncodedFeatures, network.encoder, data.train_set.provided.train),
            consumers=consumers,
            evaluations=run_evaluations(config, data, network.encoder),
        )

    return ClusterBaselineContainer


def check(profile: Any, options: None) -> None:
    if profile.model.head == "pcb" and profile.loss.ce_weight > 0:
        raise ValueError(
            "model.head = 'pcb' has a classifier per stripe, which the per-epoch classifier reset does not "
            "resize yet; use loss.ce_weight = 0 (the triplet alone, as UDA_TP) or model.head = 'bnneck'"
        )


METHOD = MethodSpec(
    name="cluster_baseline",
    summary="strong cluster baseline and UDA_TP: clusters, a classifier from the centroids, ID + triplet",
    container=container,
    check=check,
)

"""Cluster Contrast (Dai et al., 2021): a memory of cluster centroids rebuilt from fresh features
every epoch, outliers left out of training, InfoNCE against the centroids, momentum update with
every sample (``update_rule = "mean"``) or the hardest per cluster (``"hard"``)."""

from __future__ import annotations

from functools import cache
from typing import Literal

from attrs import field, frozen, validators as v

from reidkit.entrypoints.methods import MethodSpec


@frozen(kw_only=True)
class ClusterContrastOptions:
    """The ``[cluster_contrast]`` table."""

    temperature: float = field(default=0.05, validator=v.gt(0.0))
    momentum: float = field(default=0.1, validator=[v.ge(0.0), v.lt(1.0)])
    # mean: every sample moves its centroid; hard: the sample least like its centroid (CM_Hard)
    update_rule: Literal["mean", "hard"] = "mean"
    learn_temperature: bool = False  # the temperature as a trainable parameter


@cache
def container() -> type:
    """The method's container class, made on first use: it imports torch, and checking a profile
    (this module's settings included) must not wait for that."""
    from dependency_injector import containers, providers
    from torch import nn

    from reidkit.adapters.encoders.feature_sources import EncodedFeatures
    from reidkit.adapters.memory.cluster_memory import ClusterMemory
    from reidkit.adapters.steps.memory_contrast import MemoryContrastStep
    from reidkit.entrypoints.parts.adaptation import Adaptation, cluster_adapt, shared_memory
    from reidkit.entrypoints.parts.data import Data
    from reidkit.entrypoints.parts.model import ReidModel
    from reidkit.entrypoints.parts.training import (
        TrainingRuntime,
        optimizer_for,
        run_checkpointer,
        run_evaluations,
        scheduler_for,
        stateful,
    )

    def trainable(model: nn.Module, memory: nn.Module) -> nn.Module:
        """The optimiser's parameters: the model's, plus a learnt temperature when there is one."""
        return nn.ModuleDict({"model": model, "memory": memory})

    class ClusterContrastContainer(containers.DeclarativeContainer):
        config = providers.Configuration(strict=True)
        training = providers.Container(TrainingRuntime, config=config)
        data = providers.Container(Data, config=config)
        adaptation = providers.Container(
            Adaptation, config=config, training=training, data=data, transform=data.train_transform
        )
        network = providers.Container(
            ReidModel,
            config=config,
            training=training,
            data=data,
            num_classes=adaptation.head_classes,
            source_model=adaptation.source_model,
        )

        memory = providers.Singleton(
            ClusterMemory,
            network.model.provided.feature_dim,
            temperature=config.cluster_contrast.temperature,
            momentum=config.cluster_contrast.momentum,
            update=config.cluster_contrast.update_rule,
            learn_temperature=config.cluster_contrast.learn_temperature,
        )
        memory_of_steps = shared_memory(training, memory)
        optimizer = optimizer_for(config, providers.Singleton(trainable, network.model, memory))
        scheduler = scheduler_for(config, optimizer)
        step = providers.Singleton(
            MemoryContrastStep, network.model, optimizer, memory_of_steps, scheduler=scheduler, runtime=training.steps
        )
        checkpointer = run_checkpointer(
            training, providers.Callable(stateful, step=step, memory=memory, refiners=adaptation.clustering.refiners)
        )

        use_case = cluster_adapt(
            training,
            adaptation,
            batches=adaptation.target_batches,
            step=step,
            checkpointer=checkpointer,
            features=providers.Singleton(EncodedFeatures, network.encoder, data.train_set.provided.train),
            consumers=providers.List(memory_of_steps, adaptation.target_batches),
            evaluations=run_evaluations(config, data, network.encoder),
        )

    return ClusterContrastContainer


METHOD = MethodSpec(
    name="cluster_contrast",
    summary="Cluster Contrast: a memory of cluster centroids, InfoNCE, momentum or hardest-sample update",
    container=container,
    options=ClusterContrastOptions,
)

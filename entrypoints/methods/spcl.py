"""SpCL (Ge et al., NeurIPS'20): a hybrid memory of the source class centroids (UDA) and every
target instance, clustered itself each epoch (with the self-paced reliability criterion as the
profile's refiner); the unified contrastive loss trains against it, source and target batches in
every step in UDA."""

from __future__ import annotations

from functools import cache

from attrs import field, frozen, validators as v

from reidkit.entrypoints.methods import MethodSpec


@frozen(kw_only=True)
class SpclOptions:
    """The ``[spcl]`` table."""

    temperature: float = field(default=0.05, validator=v.gt(0.0))
    momentum: float = field(default=0.2, validator=[v.ge(0.0), v.lt(1.0)])
    # re-encode the memory's instance rows before each epoch's clustering (false = cluster the
    # momentum rows, as the paper; see MemoryFeatures)
    refresh_instances: bool = False


@cache
def container() -> type:
    """The method's container class, made on first use: it imports torch, and checking a profile
    (this module's settings included) must not wait for that."""
    from dependency_injector import containers, providers

    from reidkit.adapters.encoders.feature_sources import MemoryFeatures
    from reidkit.adapters.memory.hybrid_memory import HybridMemory
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

    class SpclContainer(containers.DeclarativeContainer):
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
            HybridMemory,
            network.model.provided.feature_dim,
            label_space=adaptation.label_space,
            temperature=config.spcl.temperature,
            momentum=config.spcl.momentum,
        )
        memory_of_steps = shared_memory(training, memory)
        optimizer = optimizer_for(config, network.model)
        scheduler = scheduler_for(config, optimizer)
        step = providers.Singleton(
            MemoryContrastStep, network.model, optimizer, memory_of_steps, scheduler=scheduler, runtime=training.steps
        )
        # SpCL clusters its memory's instance rows, filled by the encoder (re-filled every epoch with
        # spcl.refresh_instances)
        features = providers.Singleton(
            MemoryFeatures,
            memory_of_steps,
            network.encoder,
            data.train_set.provided.train,
            adaptation.source_records,
            refresh=config.spcl.refresh_instances,
        )
        checkpointer = run_checkpointer(
            training, providers.Callable(stateful, step=step, memory=memory, refiners=adaptation.clustering.refiners)
        )

        use_case = cluster_adapt(
            training,
            adaptation,
            batches=adaptation.batches,
            step=step,
            checkpointer=checkpointer,
            features=features,
            consumers=providers.List(memory_of_steps, adaptation.target_batches),
            evaluations=run_evaluations(config, data, network.encoder),
        )

    return SpclContainer


METHOD = MethodSpec(
    name="spcl",
    summary="SpCL: hybrid memory of source centroids and target instances, unified contrastive loss",
    container=container,
    options=SpclOptions,
)

"""Supervised training: the strong baseline (Bag of Tricks): ID loss with label smoothing plus
batch-hard triplet on P x K batches of the labelled ``train.domain`` (one domain or several side by
side; ``train.sampler`` draws datasets or cameras per batch instead)."""

from __future__ import annotations

from functools import cache

from reidkit.entrypoints.methods import MethodSpec


@cache
def container() -> type:
    """The method's container class, made on first use: it imports torch, and checking a profile
    (this module's settings included) must not wait for that."""
    from dependency_injector import containers, providers

    import operator

    from reidkit.adapters.data.batches import group_batches, identity_batches
    from reidkit.adapters.steps.supervised import SupervisedStep
    from reidkit.application.supervised_train import SupervisedTrain
    from reidkit.entrypoints.parts.data import Data
    from reidkit.entrypoints.parts.model import ReidModel
    from reidkit.entrypoints.parts.training import (
        TrainingRuntime,
        epoch_loop,
        optimizer_for,
        run_checkpointer,
        run_evaluations,
        scheduler_for,
        supervised_losses,
    )

    class SupervisedContainer(containers.DeclarativeContainer):
        config = providers.Configuration(strict=True)
        training = providers.Container(TrainingRuntime, config=config)
        data = providers.Container(Data, config=config)

        network = providers.Container(
            ReidModel, config=config, training=training, data=data, num_classes=data.train_set.provided.num_train_pids
        )
        optimizer = optimizer_for(config, network.model)
        scheduler = scheduler_for(config, optimizer)
        step = providers.Singleton(
            SupervisedStep, network.model, optimizer, supervised_losses(config), scheduler=scheduler, runtime=training.steps
        )
        shared = dict(
            seed=config.seed,
            num_batches=config.train.iters_per_epoch,
            loading=training.loading,
            rank=training.group.provided.rank,
            world_size=training.group.provided.world_size,
            frames=data.frames,  # None for images; tracklets: P x K tracklets of [video] seq_len frames
            boxes=config.model.mask_head,  # the mask head's targets: each image's true box
        )
        grouped = dict(
            batch_size=providers.Callable(operator.mul, config.train.ids_per_batch, config.train.instances_per_id),
            groups_per_batch=config.train.groups_per_batch,
            **shared,
        )
        records = data.train_set.provided.train
        batches = providers.Selector(
            config.train.sampler,
            identity=providers.Singleton(
                identity_batches,
                records,
                data.train_transform,
                ids_per_batch=config.train.ids_per_batch,
                instances_per_id=config.train.instances_per_id,
                **shared,
            ),
            datasets=providers.Singleton(group_batches, records, data.train_transform, by="datasets", **grouped),
            cameras=providers.Singleton(group_batches, records, data.train_transform, by="cameras", **grouped),
        )
        del shared, grouped, records  # spelling aids, not providers of the container
        evaluations = run_evaluations(config, data, network.encoder)
        checkpointer = run_checkpointer(training, providers.Dict(step=step))

        use_case = epoch_loop(
            training, batches=batches, step=step, checkpointer=checkpointer, evaluations=evaluations, loop=SupervisedTrain
        )

    return SupervisedContainer


METHOD = MethodSpec(name="supervised", summary="supervised training (strong baseline, BoT)", container=container)

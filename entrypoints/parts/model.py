"""A re-ID network as a run builds it, and the encoder that extracts its features."""

from __future__ import annotations

from dependency_injector import containers, providers

from reidkit.adapters.encoders.sharded import ShardedEncoder
from reidkit.adapters.encoders.torch_encoder import TorchFeatureEncoder
from reidkit.adapters.encoders.tracklets import TrackletFeatureEncoder
from reidkit.adapters.models.starting import starting_model
from reidkit.adapters.runtime.observers import progress_callback
from reidkit.adapters.runtime.replication import with_sync_batchnorm
from reidkit.entrypoints.parts.keys import switch
from reidkit.entrypoints.settings import data_form


def shows_bars(is_main: bool, quiet: bool) -> bool:
    """Progress bars: drawn by rank 0 only, and never with ``runtime.quiet``."""
    return is_main and not quiet


def feature_encoder(config: providers.Configuration, training: providers.Container, data: providers.Container,
                    model: providers.Provider) -> providers.Provider:  # fmt: skip
    """``model``'s encoder on the evaluation transform; under torchrun each rank encodes a shard
    and every rank receives every row. On video data a tracklet's row pools (``[video] pooling``)
    the features of the frames ``data.test_frames`` picks (TrackletFeatureEncoder)."""
    frames = providers.Singleton(
        TorchFeatureEncoder,
        model,
        data.test_transform,
        batch_size=config.eval.batch_size,
        device=training.process.provided.device,
        loading=training.loading,
        flip_augment=config.eval.flip,
        progress=providers.Callable(
            progress_callback, "features", providers.Callable(shows_bars, training.group.provided.is_main, config.runtime.quiet)
        ),
    )
    local = providers.Selector(
        providers.Callable(data_form, config.data),
        image=frames,
        video=providers.Singleton(TrackletFeatureEncoder, frames, sampling=data.test_frames, pooling=config.video.pooling),
    )
    return providers.Selector(
        training.group.provided.topology,
        single=local,
        distributed=providers.Singleton(ShardedEncoder, local, training.group),
    )


class ReidModel(containers.DeclarativeContainer):
    """One network: the ``[model]`` architecture with ``num_classes`` classes, started from
    ``source_model`` ("" = from ``model.pretrained`` or random), with SyncBN under torchrun when
    ``runtime.sync_bn`` asks for it; ``encoder`` extracts its features."""

    config = providers.Configuration(strict=True)
    training = providers.DependenciesContainer()
    data = providers.DependenciesContainer()
    num_classes = providers.Dependency(instance_of=int)
    source_model = providers.Dependency(instance_of=str, default="")

    network = providers.Singleton(
        starting_model,
        config.model.backbone,
        num_classes=num_classes,
        last_stride=config.model.last_stride,
        pooling=config.model.pooling,
        bnneck=config.model.bnneck,
        dropout=config.model.dropout,
        embedding_dim=config.model.embedding_dim,
        pretrained=config.model.pretrained,
        pretrained_format=config.model.pretrained_format,
        head=config.model.head,
        parts=config.model.parts,
        part_dim=config.model.part_dim,
        input_size=providers.List(config.input.height, config.input.width),
        trunk_options=config.model.trunk_options,
        source_model=source_model,
        dsbn=config.model.dsbn,
        mask_head=config.model.mask_head,
        mask_stage=config.model.mask_stage,
        mask_attention=config.model.mask_attention,
        mask_attention_trains_mask=config.model.mask_attention_trains_mask,
    )
    model = providers.Selector(
        providers.Callable(switch, config.runtime.sync_bn),
        off=network,
        on=providers.Singleton(with_sync_batchnorm, network, training.group),
    )
    encoder = feature_encoder(config, training, data, model)

"""The model a run starts from: built from its architecture, then its weights, then DSBN."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from reidkit.adapters.data.batch import TARGET_DOMAIN
from reidkit.adapters.models.backbone import ReidNet, build_reid_model
from reidkit.adapters.models.dsbn import convert_dsbn
from reidkit.adapters.models.heads import load_source_model

if TYPE_CHECKING:
    from reidkit.adapters.models.pcb import PCBNet


def starting_model(
    backbone: str,
    *,
    num_classes: int,
    last_stride: int = 1,
    pooling: str = "avg",
    bnneck: bool = True,
    dropout: float = 0.0,
    embedding_dim: int = 0,
    pretrained: str = "",
    source_model: str = "",
    dsbn: bool = False,
    pretrained_format: str = "auto",
    head: str = "bnneck",
    parts: int = 6,
    part_dim: int = 256,
    input_size: tuple[int, int] | None = None,
    trunk_options: Mapping[str, Any] | None = None,
    mask_head: bool = False,
    mask_stage: str = "layer3",
    mask_attention: bool = False,
    mask_attention_trains_mask: bool = False,
) -> ReidNet | PCBNet:
    """A ReidNet with ``num_classes`` classes (an adaptation head sized by each epoch's clusters
    starts with 1; 0 = none): trunk weights from ``pretrained`` (a local weights file,
    "" = random), then every weight but the classifier from ``source_model`` ("" = none), then
    domain-specific BN for source and target, converted last so both domains' BNs start from the
    loaded ones. ``backbone`` is any trunk name and ``pretrained_format`` .. ``trunk_options`` are
    :func:`~reidkit.adapters.models.backbone.build_reid_model`'s (a file of any format it reads)."""
    model = build_reid_model(
        backbone,
        num_classes=num_classes,
        last_stride=last_stride,
        pooling=pooling,
        bnneck=bnneck,
        dropout=dropout,
        embedding_dim=embedding_dim,
        pretrained=pretrained or None,
        pretrained_format=pretrained_format,
        head=head,
        parts=parts,
        part_dim=part_dim,
        input_size=input_size,
        trunk_options=trunk_options,
        mask_head=mask_head,
        mask_stage=mask_stage,
        mask_attention=mask_attention,
        mask_attention_trains_mask=mask_attention_trains_mask,
    )
    if source_model:
        load_source_model(model, source_model)
    if dsbn:
        convert_dsbn(model, num_domains=2, target_domain=TARGET_DOMAIN)
    return model

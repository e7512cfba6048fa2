"""The model a run starts from: built from its architecture, then its weights, then DSBN."""

from __future__ import annotations

from reidkit.adapters.data.batch import TARGET_DOMAIN
from reidkit.adapters.models.backbone import ReidNet, build_reid_model
from reidkit.adapters.models.dsbn import convert_dsbn
from reidkit.adapters.models.heads import load_source_model


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
) -> ReidNet:
    """A ReidNet with ``num_classes`` classes (an adaptation head sized by each epoch's clusters
    starts with 1; 0 = none): trunk weights from ``pretrained`` (a local torchvision-format file,
    "" = random), then every weight but the classifier from ``source_model`` ("" = none), then
    domain-specific BN for source and target, converted last so both domains' BNs start from the
    loaded ones."""
    model = build_reid_model(
        backbone,
        num_classes=num_classes,
        last_stride=last_stride,
        pooling=pooling,
        bnneck=bnneck,
        dropout=dropout,
        embedding_dim=embedding_dim,
        pretrained=pretrained or None,
    )
    if source_model:
        load_source_model(model, source_model)
    if dsbn:
        convert_dsbn(model, num_domains=2, target_domain=TARGET_DOMAIN)
    return model

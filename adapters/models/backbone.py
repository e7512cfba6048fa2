"""ReidNet: trunk -> global pooling -> optional embedding FC -> BNNeck -> classifier.

This is the BoT ("Bag of Tricks", Luo et al. 2019) strong-baseline head: the triplet loss sees
the features before the BatchNorm neck, the classifier sees them after it, and test-time
retrieval uses the post-neck features.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import structlog
import torch
import torch.nn.functional as F
from torch import nn

from reidkit.adapters.models.names import HEADS
from reidkit.adapters.models.mask_head import MaskDecoder, StageTap, masked, stage_channels
from reidkit.adapters.models.pooling import build_pooling
from reidkit.adapters.models.trunks import build_trunk
from reidkit.adapters.models.vit import VITS
from reidkit.adapters.models.weights import load_pretrained

if TYPE_CHECKING:
    from reidkit.adapters.models.pcb import PCBNet

log = structlog.get_logger(__name__)


class ReidOutput(NamedTuple):
    """Train-mode output: ``features`` before the BNNeck (for triplet losses), ``embeddings``
    after it (what retrieval and the contrastive memories use), ``logits`` None while the model
    has no classifier (0 classes)."""

    features: torch.Tensor
    logits: torch.Tensor | None
    embeddings: torch.Tensor
    mask: torch.Tensor | None = None  # (N, 1, H, W) foreground probabilities, with a mask head


class ReidNet(nn.Module):
    """A re-ID network around any trunk that maps images to a (N, C, H, W) map.

    Train mode returns :class:`ReidOutput`; eval mode returns the (N, D) retrieval embedding:
    post-BNNeck features when ``bnneck`` else the pooled (or embedded) features.
    """

    def __init__(
        self,
        trunk: nn.Module,
        trunk_channels: int,
        *,
        num_classes: int,
        pooling: nn.Module,
        bnneck: bool = True,
        dropout: float = 0.0,
        embedding_dim: int = 0,
    ) -> None:
        super().__init__()
        if trunk_channels < 1:
            raise ValueError(f"trunk_channels must be >= 1, got {trunk_channels}")
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if embedding_dim < 0:
            raise ValueError(f"embedding_dim must be >= 0 (0 = no embedding layer), got {embedding_dim}")
        self.trunk = trunk
        self.pool = pooling
        self.embedding = _embedding_layer(trunk_channels, embedding_dim) if embedding_dim else nn.Identity()
        self.feature_dim = embedding_dim or trunk_channels
        self.neck = _bnneck(self.feature_dim) if bnneck else None
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.classifier = _classifier(self.feature_dim, num_classes) if num_classes else None
        self.mask_head: nn.Module | None = None
        self.mask_attention = False
        self.mask_attention_trains_mask = False
        self._tap: StageTap | None = None

    def attach_mask_head(
        self, head: nn.Module, *, stage: str = "layer3", attention: bool = False, attention_trains_mask: bool = False
    ) -> None:
        """Adds a foreground-mask decoder reading the trunk's ``stage`` (see mask_head.py);
        ``attention`` weights the pooling by its mask, read detached unless
        ``attention_trains_mask`` (then the re-ID loss trains the decoder through the pooling
        too). Once per model."""
        if attention_trains_mask and not attention:
            raise ValueError("attention_trains_mask lets the re-ID loss train the mask through the pooling: it needs attention")
        if self.mask_head is not None:
            raise ValueError("this model already has a mask head")
        self._tap = StageTap(self.trunk, stage)
        self.mask_head = head.to(next(self.parameters()).device)
        self.mask_attention = bool(attention)
        self.mask_attention_trains_mask = bool(attention_trains_mask)

    @property
    def num_classes(self) -> int:
        return 0 if self.classifier is None else int(self.classifier.out_features)

    def forward(self, images: torch.Tensor) -> ReidOutput | torch.Tensor:
        feature_map, mask = self._trunk_and_mask(images)
        features = self.embedding(self.pool(feature_map))
        neck = self.neck(features) if self.neck is not None else features
        if not self.training:
            return neck
        logits = self.classifier(self.dropout(neck)) if self.classifier is not None else None
        return ReidOutput(features=features, logits=logits, embeddings=neck, mask=mask)

    def _trunk_and_mask(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The trunk's final map (weighted by the mask under mask attention) and the predicted
        mask at the input's size (None without a mask head)."""
        feature_map = self.trunk(images)
        if self.mask_head is None or self._tap is None:
            return feature_map, None
        small = self.mask_head(self._tap.take())
        if self.mask_attention:
            # detached, the mask stays what its boxes teach; through the pooling the re-ID loss
            # would reshape it into whatever weighting suits the classifier (docs/baggage.md)
            feature_map = masked(feature_map, small if self.mask_attention_trains_mask else small.detach())
        return feature_map, F.interpolate(small, size=images.shape[-2:], mode="bilinear", align_corners=False)

    def predict_mask(self, images: torch.Tensor) -> torch.Tensor:
        """The foreground mask (N, 1, H, W) the head predicts for ``images`` (what the mask's IoU
        is measured on); a model without a mask head has none to give."""
        if self.mask_head is None:
            raise ValueError("this model has no mask head (model.mask_head = false)")
        return self._trunk_and_mask(images)[1]

    def reset_classifier(
        self, num_classes: int, init_weights: torch.Tensor | None = None, *, normalize: bool = True
    ) -> None:
        """Replaces the classifier with a fresh ``num_classes``-way one.

        ``init_weights`` (num_classes, feature_dim), e.g. cluster centroids, become its rows,
        L2-normalised unless ``normalize`` is False (normalising twice changes nothing). The old
        classifier's parameters are gone: rebuild the optimizer afterwards.
        """
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        reference = next(self.parameters())
        if num_classes == 0:
            if init_weights is not None:
                raise ValueError("init_weights given for a classifier with 0 classes")
            self.classifier = None
            return
        classifier = _classifier(self.feature_dim, num_classes).to(reference.device, reference.dtype)
        if init_weights is not None:
            expected = (num_classes, self.feature_dim)
            if tuple(init_weights.shape) != expected:
                raise ValueError(f"init_weights must have shape {expected}, got {tuple(init_weights.shape)}")
            weights = init_weights.detach().to(reference.device, reference.dtype)
            with torch.no_grad():
                classifier.weight.copy_(F.normalize(weights, dim=1) if normalize else weights)
        self.classifier = classifier


    def resize_classifier(self, num_classes: int, init_weights: torch.Tensor | None = None) -> nn.Parameter:
        """Gives the classifier ``num_classes`` rows *in place*: the weight stays the same
        Parameter object, so an optimizer built on the model keeps training it. Per-parameter
        optimizer state (Adam's moments) of the old shape must be dropped by the caller; the
        returned Parameter is the one to look up. Rows come from ``init_weights`` (L2-normalised,
        e.g. cluster centroids) or the usual tiny normal init. The classifier must exist: build
        the model with ``num_classes >= 1`` when the head is sized per epoch."""
        if self.classifier is None:
            raise ValueError("resize_classifier needs a classifier: build the model with num_classes >= 1")
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        weight = self.classifier.weight
        with torch.no_grad():
            if init_weights is None:
                rows = torch.empty(num_classes, self.feature_dim, device=weight.device, dtype=weight.dtype)
                nn.init.normal_(rows, std=0.001)
            else:
                expected = (num_classes, self.feature_dim)
                if tuple(init_weights.shape) != expected:
                    raise ValueError(f"init_weights must have shape {expected}, got {tuple(init_weights.shape)}")
                rows = F.normalize(init_weights.detach().to(weight.device, weight.dtype), dim=1)
        weight.data = rows
        weight.grad = None
        self.classifier.out_features = num_classes
        return weight

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):  # noqa: ANN001, E501
        # A head sized per epoch (pseudo labels) is saved with that epoch's size: follow it.
        saved = state_dict.get(f"{prefix}classifier.weight")
        if saved is not None and self.classifier is not None and saved.shape != self.classifier.weight.shape:
            if saved.ndim == 2 and saved.shape[1] == self.feature_dim:
                self.resize_classifier(int(saved.shape[0]))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)


def _embedding_layer(in_features: int, out_features: int) -> nn.Linear:
    layer = nn.Linear(in_features, out_features)
    # He init (fan_out) as BoT uses for its linear layers, zero bias.
    nn.init.kaiming_normal_(layer.weight, a=0, mode="fan_out")
    nn.init.zeros_(layer.bias)
    return layer


def _bnneck(dim: int) -> nn.BatchNorm1d:
    neck = nn.BatchNorm1d(dim)
    nn.init.ones_(neck.weight)
    nn.init.zeros_(neck.bias)
    # BoT freezes the neck's shift at zero: a bias would move the features away from the origin,
    # which hurts the cosine/euclidean retrieval done on them.
    neck.bias.requires_grad_(False)
    return neck


def _classifier(in_features: int, num_classes: int) -> nn.Linear:
    # Bias-free with a tiny normal init (std 0.001), as in BoT: logits start near zero so the
    # first cross-entropy gradients are not dominated by a random head.
    layer = nn.Linear(in_features, num_classes, bias=False)
    nn.init.normal_(layer.weight, std=0.001)
    return layer


def build_reid_model(
    backbone: str,
    *,
    num_classes: int,
    last_stride: int = 1,
    pooling: str = "avg",
    bnneck: bool = True,
    dropout: float = 0.0,
    embedding_dim: int = 0,
    pretrained: str | None = None,
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
    """A re-ID model around the trunk ``backbone`` names (any name of
    :func:`~reidkit.adapters.models.trunks.build_trunk`: ResNets, ResNet-IBN-a, OSNets, ViTs,
    ``timm:<name>``, ``torchvision:<name>``). ``pretrained`` is a local weights file
    (None or "" = random initialisation; nothing is ever downloaded) in any format
    :func:`~reidkit.adapters.models.weights.load_pretrained` reads.

    ``head="bnneck"`` (the default) is :class:`ReidNet`; ``head="pcb"`` is PCB's ``parts``
    stripes with ``part_dim``-wide reductions (:class:`~reidkit.adapters.models.pcb.PCBNet`, which
    pools its stripes by averaging and has no embedding layer or BNNeck of its own). ``input_size``
    (height, width) sets a ViT's position-embedding grid (other trunks take any size);
    ``trunk_options`` go to the trunk's factory. For the ResNet names the model is built exactly as
    before (same modules, same random draws). ``mask_head`` adds a foreground-mask decoder on the
    trunk's ``mask_stage`` (``adapters/models/mask_head.py``; built after everything else, so the
    rest draws what it drew without one), and ``mask_attention`` weights the pooling by its mask
    (detached unless ``mask_attention_trains_mask``)."""
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got {head!r}")
    options = dict(trunk_options or {})
    if backbone in VITS and input_size is not None:
        options.setdefault("img_size", tuple(input_size))
    trunk = build_trunk(backbone, last_stride=last_stride, **options)
    if getattr(trunk, "global_token", False) and (pooling == "gem" or head == "pcb"):
        raise ValueError(
            f"{backbone} returns its CLS token (a 1x1 map): GeM would clamp its negative values and PCB "
            "has no rows to split; use pooling='avg', or trunk_options={'output': 'patches'}"
        )
    if pretrained:
        report = load_pretrained(trunk, pretrained, format=pretrained_format)
        log.info("pretrained weights", backbone=backbone, path=str(pretrained), loaded=len(report.loaded), format=report.format)
    if head == "pcb":
        from reidkit.adapters.models.pcb import PCBNet  # pcb.py builds on this module's ReidOutput

        if pooling != "avg" or embedding_dim:
            raise ValueError("PCB averages each stripe and reduces it itself: it takes pooling='avg' and embedding_dim=0")
        if mask_head:
            raise ValueError("the mask head is built on the BNNeck head; PCB's stripes take none (head='bnneck')")
        return PCBNet(trunk, trunk.out_channels, num_classes=num_classes, parts=parts, part_dim=part_dim, dropout=dropout)
    model = ReidNet(
        trunk,
        trunk.out_channels,
        num_classes=num_classes,
        pooling=build_pooling(pooling),
        bnneck=bnneck,
        dropout=dropout,
        embedding_dim=embedding_dim,
    )
    if not mask_head:
        if mask_attention:
            raise ValueError("mask_attention weights the pooling by the predicted mask: it needs a mask head")
        return model
    model.attach_mask_head(
        MaskDecoder(stage_channels(trunk, mask_stage, 64, 64)),
        stage=mask_stage,
        attention=mask_attention,
        attention_trains_mask=mask_attention_trains_mask,
    )
    return model

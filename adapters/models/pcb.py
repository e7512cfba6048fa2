"""PCB: the part-based re-ID head (Sun, Zheng, Yang, Tian, Wang, "Beyond Part Models: Person
Retrieval with Refined Part Pooling", ECCV 2018), around any trunk.

The trunk's map is average-pooled into ``parts`` horizontal stripes (6 in the paper), giving one
column vector g_i per stripe; each stripe has its own reduction (the paper's 1x1 convolution, here
a bias-free linear layer on the pooled vector, then BN and ReLU) to h_i (256-d in the paper) and
its own identity classifier on h_i. The ID loss is computed per stripe and averaged (or summed)
over the stripes: the model returns the stripes' logits stacked as (N, parts, classes), which
:class:`~reidkit.adapters.losses.cross_entropy.CrossEntropyLoss` accepts.

Outputs follow ``ReidNet``'s contract so every training step and loss works unchanged:

- train mode: ``ReidOutput(features, logits, embeddings)`` with ``features`` the concatenated
  stripe vectors g (N, parts*C) (what a triplet loss reads), ``logits`` (N, parts, classes) or
  None, and ``embeddings`` the retrieval descriptor below computed in train mode;
- eval mode: the retrieval descriptor, (N, ``feature_dim``): with ``test_features="pooled"``
  (the paper's default, "g") each stripe's g L2-normalised then concatenated (Torchreid does the
  same); with ``"reduced"`` the concatenated h (the paper's cheaper descriptor, 6x256 = 1536-d).

The paper runs PCB on ResNet-50 with the last stride removed at 384x128 (a 24x8 map: six 4x8
stripes); at 256x128 the map is 16x8 and adaptive pooling gives stripes of 3 or 4 rows (neighbours
share a row where 16 does not divide by 6).

Pseudo-label methods that re-initialise the classifier from cluster centroids (``resize_classifier``)
need centroids of h, i.e. ``test_features="reduced"``; with pooled test features only a randomly
initialised head can be resized.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from reidkit.adapters.models.backbone import ReidOutput

PCB_TEST_FEATURES = ("pooled", "reduced")


class PCBNet(nn.Module):
    """Trunk -> ``parts`` horizontal stripes -> per-stripe reduction and classifier."""

    def __init__(
        self,
        trunk: nn.Module,
        trunk_channels: int,
        *,
        num_classes: int,
        parts: int = 6,
        part_dim: int = 256,
        dropout: float = 0.5,
        test_features: str = "pooled",
    ) -> None:
        super().__init__()
        if trunk_channels < 1:
            raise ValueError(f"trunk_channels must be >= 1, got {trunk_channels}")
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        if parts < 1:
            raise ValueError(f"PCB needs at least one stripe, got parts={parts}")
        if part_dim < 1:
            raise ValueError(f"part_dim must be >= 1, got {part_dim}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if test_features not in PCB_TEST_FEATURES:
            raise ValueError(f"test_features must be one of {PCB_TEST_FEATURES}, got {test_features!r}")
        self.trunk = trunk
        self.parts = parts
        self.part_dim = part_dim
        self.trunk_channels = trunk_channels
        self.test_features = test_features
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.reductions = nn.ModuleList(_reduction(trunk_channels, part_dim) for _ in range(parts))
        self.classifiers = (
            nn.ModuleList(_classifier(part_dim, num_classes) for _ in range(parts)) if num_classes else None
        )
        self.feature_dim = parts * (trunk_channels if test_features == "pooled" else part_dim)

    @property
    def num_classes(self) -> int:
        return 0 if self.classifiers is None else int(self.classifiers[0].out_features)

    def stripes(self, images: torch.Tensor) -> torch.Tensor:
        """The stripe vectors g: (N, parts, C), top stripe first."""
        # Adaptive pooling: stripes of equal share of the rows, overlapping by a row where the
        # rows do not divide (and sharing rows when the map has fewer rows than stripes, as a
        # 64x32 input's 4x2 map does).
        return F.adaptive_avg_pool2d(self.trunk(images), (self.parts, 1)).flatten(2).transpose(1, 2)

    def forward(self, images: torch.Tensor) -> ReidOutput | torch.Tensor:
        g = self.stripes(images)
        reduced = None
        if self.training or self.test_features == "reduced":
            reduced = torch.stack([red(self.dropout(g[:, i])) for i, red in enumerate(self.reductions)], dim=1)
        descriptor = F.normalize(g, dim=2).flatten(1) if self.test_features == "pooled" else reduced.flatten(1)
        if not self.training:
            return descriptor
        logits = None
        if self.classifiers is not None:
            logits = torch.stack([cls(reduced[:, i]) for i, cls in enumerate(self.classifiers)], dim=1)
        return ReidOutput(features=g.flatten(1), logits=logits, embeddings=descriptor)

    def reset_classifier(self, num_classes: int, init_weights: torch.Tensor | None = None, *, normalize: bool = True) -> None:
        """Fresh ``num_classes``-way stripe classifiers (0 = none); ``init_weights`` (num_classes,
        feature_dim) are reduced-descriptor centroids, one slice per stripe (``test_features``
        must be ``"reduced"``)."""
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        if num_classes == 0:
            if init_weights is not None:
                raise ValueError("init_weights given for a classifier with 0 classes")
            self.classifiers = None
            return
        reference = next(self.parameters())
        classifiers = nn.ModuleList(_classifier(self.part_dim, num_classes) for _ in range(self.parts))
        classifiers = classifiers.to(reference.device, reference.dtype)
        if init_weights is not None:
            rows = self._stripe_rows(num_classes, init_weights, normalize=normalize)
            with torch.no_grad():
                for classifier, part_rows in zip(classifiers, rows):
                    classifier.weight.copy_(part_rows)
        self.classifiers = classifiers

    def resize_classifier(self, num_classes: int, init_weights: torch.Tensor | None = None) -> list[nn.Parameter]:
        """Gives every stripe classifier ``num_classes`` rows in place (the Parameters stay the same
        objects, as ``ReidNet.resize_classifier``); returns them, stripe by stripe."""
        if self.classifiers is None:
            raise ValueError("resize_classifier needs a classifier: build the model with num_classes >= 1")
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        weights = []
        rows = self._stripe_rows(num_classes, init_weights, normalize=True) if init_weights is not None else None
        for index, classifier in enumerate(self.classifiers):
            weight = classifier.weight
            with torch.no_grad():
                if rows is None:
                    new = torch.empty(num_classes, self.part_dim, device=weight.device, dtype=weight.dtype)
                    nn.init.normal_(new, std=0.001)
                else:
                    new = rows[index].to(weight.device, weight.dtype)
            weight.data = new
            weight.grad = None
            classifier.out_features = num_classes
            weights.append(weight)
        return weights

    def _stripe_rows(self, num_classes: int, init_weights: torch.Tensor, *, normalize: bool) -> list[torch.Tensor]:
        if self.test_features != "reduced":
            raise ValueError(
                "PCB's classifiers read the reduced stripes h: initialising them from centroids needs "
                "test_features='reduced' (centroids of the pooled stripes have another width)"
            )
        expected = (num_classes, self.feature_dim)
        if tuple(init_weights.shape) != expected:
            raise ValueError(f"init_weights must have shape {expected}, got {tuple(init_weights.shape)}")
        parts = init_weights.detach().reshape(num_classes, self.parts, self.part_dim).unbind(1)
        return [F.normalize(p, dim=1) if normalize else p for p in parts]

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):  # noqa: ANN001, E501
        # A head sized per epoch is saved with that epoch's size: follow it (as ReidNet does).
        saved = state_dict.get(f"{prefix}classifiers.0.weight")
        if saved is not None and self.classifiers is not None and saved.shape != self.classifiers[0].weight.shape:
            if saved.ndim == 2 and saved.shape[1] == self.part_dim:
                self.resize_classifier(int(saved.shape[0]))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)


def _reduction(in_features: int, out_features: int) -> nn.Sequential:
    # The paper's 1x1 convolution on a pooled (1x1) stripe is a linear layer; BN and ReLU follow.
    layer = nn.Linear(in_features, out_features, bias=False)
    nn.init.kaiming_normal_(layer.weight, mode="fan_out")
    norm = nn.BatchNorm1d(out_features)
    nn.init.ones_(norm.weight)
    nn.init.zeros_(norm.bias)
    return nn.Sequential(layer, norm, nn.ReLU(inplace=True))


def _classifier(in_features: int, num_classes: int) -> nn.Linear:
    # Bias-free with a tiny normal init, as ReidNet's (BoT's) classifier.
    layer = nn.Linear(in_features, num_classes, bias=False)
    nn.init.normal_(layer.weight, std=0.001)
    return layer

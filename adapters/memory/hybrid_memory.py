"""SpCL's hybrid memory: source-class centroids and one row per target training image.

Each row carries a class label: source rows their identity, clustered target rows their cluster
(offset by the number of source classes), un-clustered target rows a class of their own. The loss
averages the similarities per class, so clusters act as centroids and lone instances as instance
negatives (``spcl/models/hm.py``). The momentum update is an explicit ``update`` call rather than
part of ``backward`` (SpCL issue #15).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reidkit.adapters.memory.updates import adopt_saved_shapes, check_memory_settings, momentum_update_
from reidkit.domain.types import FeatureMatrix, PseudoLabels

_EPSILON = 1e-6  # upstream's, both in the softmax denominator and inside the log


class HybridMemory(nn.Module):
    """R = S + N rows: S source-class centroids (0 without source data) then N target instances.

    ``num_source_classes`` is kept as extra state, so ``load_state_dict`` restores the whole memory
    into a freshly built, still empty one (resuming SpCL needs the memory, it is never re-extracted).
    """

    features: Tensor
    labels: Tensor

    def __init__(self, feature_dim: int, *, temperature: float = 0.05, momentum: float = 0.2) -> None:
        super().__init__()
        check_memory_settings(feature_dim, temperature, momentum)
        self.feature_dim = int(feature_dim)
        self.temperature = float(temperature)
        self.momentum = float(momentum)
        self.num_source_classes = 0
        self.register_buffer("features", torch.zeros(0, self.feature_dim))
        self.register_buffer("labels", torch.zeros(0, dtype=torch.long))

    @property
    def initialized(self) -> bool:
        return self.features.shape[0] > 0

    @property
    def num_target_rows(self) -> int:
        return int(self.features.shape[0]) - self.num_source_classes

    def initialize(self, target_features: FeatureMatrix, source_centroids: FeatureMatrix | None = None) -> None:
        """Fills the rows (normalised) and gives every row a class of its own until the first reset."""
        parts = [] if source_centroids is None else [source_centroids]
        for part in (*parts, target_features):
            if part.dim != self.feature_dim:
                raise ValueError(f"features have dimension {part.dim}, the memory {self.feature_dim}")
        if len(target_features) == 0:
            raise ValueError("target_features is empty: the memory needs one row per target image")
        rows = torch.cat([torch.from_numpy(np.array(p.values)) for p in (*parts, target_features)])
        self.num_source_classes = 0 if source_centroids is None else len(source_centroids)
        self.features = F.normalize(rows, dim=1).to(self.features)
        self.labels = torch.arange(rows.shape[0], device=self.labels.device)

    def reset(self, features: FeatureMatrix, labels: PseudoLabels) -> None:
        """Relabels the target rows: cluster c becomes class S + c, each outlier (-1) a fresh class
        after the last cluster, in sample order. ``features`` is only checked for its length: SpCL
        clusters the memory's own rows (``snapshot``)."""
        n = self.num_target_rows
        if len(labels) != n or len(features) != n:
            raise ValueError(
                f"labels ({len(labels)}) and features ({len(features)}) must both match the {n} target rows"
            )
        ids = np.array(labels.labels, dtype=np.int64)
        outliers = ids < 0
        ids[outliers] = labels.num_clusters + np.arange(int(outliers.sum()))
        target = torch.from_numpy(ids + self.num_source_classes)
        source = torch.arange(self.num_source_classes)
        self.labels = torch.cat([source, target]).to(self.labels.device)

    def snapshot(self) -> FeatureMatrix:
        """The N target rows (what SpCL clusters each epoch)."""
        return FeatureMatrix(self.features[self.num_source_classes :].detach().cpu().numpy())

    def targets(self, batch: Mapping[str, Tensor]) -> Tensor:
        """Memory rows of a batch: a source sample (domain 0) its class id, a target sample S + its
        index in the target train list. Without a ``domain`` key every sample is a target sample."""
        device = self.features.device
        index = torch.as_tensor(batch["index"]).to(device=device, dtype=torch.long)
        rows = index + self.num_source_classes
        if "domain" in batch:
            source = torch.as_tensor(batch["domain"]).to(device) == 0
            label = torch.as_tensor(batch["label"]).to(device=device, dtype=torch.long)
            rows = torch.where(source, label, rows)
        return rows

    def loss(self, inputs: Tensor, rows: Tensor) -> Tensor:
        """NLL of each sample's class under a softmax over the class-averaged similarities.

        ``inputs`` must already be L2-normalised (the model does it); only they get a gradient.
        """
        if not self.initialized:
            raise RuntimeError("HybridMemory is empty: call initialize() before loss()")
        rows = rows.to(device=self.features.device, dtype=torch.long)
        with torch.autocast(inputs.device.type, enabled=False):
            logits = inputs.float().mm(self.features.detach().t()) / self.temperature
            num_classes = int(self.labels.max()) + 1
            batch = logits.shape[0]
            sim = logits.new_zeros(num_classes, batch).index_add_(0, self.labels, logits.t().contiguous())
            ones = logits.new_ones(self.labels.shape[0], 1)
            counts = logits.new_zeros(num_classes, 1).index_add_(0, self.labels, ones)
            mask = (counts > 0).float()
            sim = sim / (mask * counts + (1 - mask)).expand_as(sim)
            exps = torch.exp(sim.t()) * mask.t()
            p = exps / (exps.sum(dim=1, keepdim=True) + _EPSILON)
            return F.nll_loss(torch.log(p + _EPSILON), self.labels[rows])

    def update(self, inputs: Tensor, rows: Tensor) -> None:
        """Momentum update of the given rows from a batch, sample by sample (call it after the
        optimiser step)."""
        momentum_update_(self.features, rows, inputs, self.momentum)

    def get_extra_state(self) -> dict[str, int]:
        return {"num_source_classes": self.num_source_classes}

    def set_extra_state(self, state: Any) -> None:
        self.num_source_classes = int(state["num_source_classes"])

    def _load_from_state_dict(self, state_dict: Mapping[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        adopt_saved_shapes(self, state_dict, prefix, ["features", "labels"])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return (
            f"feature_dim={self.feature_dim}, rows={self.features.shape[0]}, "
            f"num_source_classes={self.num_source_classes}, temperature={self.temperature}, momentum={self.momentum}"
        )

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

from reidkit.adapters.data.batch import SOURCE_DOMAIN, TrainingBatch
from reidkit.adapters.memory.updates import (
    adopt_saved_shapes,
    check_batch,
    check_dimension,
    check_memory_settings,
    momentum_update_,
)
from reidkit.domain.types import FeatureMatrix, LabelSpace, PseudoLabels

_EPSILON = 1e-6  # upstream's, both in the softmax denominator and inside the log


class HybridMemory(nn.Module):
    """R = S + N rows: S source-class centroids (S = ``label_space.source_classes``, 0 without
    source data) then N target instances. Implements ``MemoryBank[TrainingBatch, Tensor]``.

    The source class count is kept as extra state, so ``load_state_dict`` restores the whole memory
    into a freshly built, still empty one (resuming SpCL needs the memory, it is never re-extracted),
    and a saved memory laid out for another label space is refused.
    """

    features: Tensor
    labels: Tensor

    def __init__(
        self,
        feature_dim: int,
        label_space: LabelSpace = LabelSpace(),
        *,
        temperature: float = 0.05,
        momentum: float = 0.2,
    ) -> None:
        super().__init__()
        check_memory_settings(feature_dim, temperature, momentum)
        if not isinstance(label_space, LabelSpace):
            raise TypeError(f"label_space must be a LabelSpace, got {type(label_space).__name__}")
        self.feature_dim = int(feature_dim)
        self.label_space = label_space
        self.temperature = float(temperature)
        self.momentum = float(momentum)
        self.register_buffer("features", torch.zeros(0, self.feature_dim))
        self.register_buffer("labels", torch.zeros(0, dtype=torch.long))

    @property
    def num_source_classes(self) -> int:
        return self.label_space.source_classes

    @property
    def initialized(self) -> bool:
        return self.features.shape[0] > 0

    @property
    def num_target_rows(self) -> int:
        return max(int(self.features.shape[0]) - self.num_source_classes, 0)

    def initialize(self, rows: FeatureMatrix) -> None:
        """Fills the memory with ``rows`` (normalised), each its own class until the first reset:
        the S source class centroids first, then one row per target training image."""
        check_dimension(rows, self.feature_dim)
        s = self.num_source_classes
        if len(rows) <= s:
            raise ValueError(
                f"HybridMemory.initialize got {len(rows)} rows: it needs the {s} source class centroids "
                "and at least one target row after them"
            )
        values = torch.from_numpy(np.array(rows.values))
        self.features = F.normalize(values, dim=1).to(self.features)
        self.labels = torch.arange(values.shape[0], device=self.labels.device)

    def reset(self, features: FeatureMatrix, labels: PseudoLabels) -> None:
        """Relabels the target rows: cluster c becomes class S + c, each outlier (-1) a fresh class
        after the last cluster, in sample order. ``features`` is only checked for its length and
        dimension: SpCL clusters the memory's own rows (``snapshot``)."""
        if not self.initialized:
            raise RuntimeError("HybridMemory is empty: call initialize() before reset()")
        check_dimension(features, self.feature_dim)
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

    def targets(self, batch: TrainingBatch) -> Tensor:
        """Memory rows of a batch: a source sample (``SOURCE_DOMAIN``) its class id, a target
        sample S + its index in the target train list."""
        device = self.features.device
        rows = batch.indexes.to(device=device, dtype=torch.long) + self.num_source_classes
        source = batch.domains.to(device) == SOURCE_DOMAIN
        return torch.where(source, batch.labels.to(device=device, dtype=torch.long), rows)

    def loss(self, inputs: Tensor, rows: Tensor) -> Tensor:
        """NLL of each sample's class under a softmax over the class-averaged similarities.

        ``inputs`` must already be L2-normalised (the model does it); only they get a gradient.
        """
        if not self.initialized:
            raise RuntimeError("HybridMemory is empty: call initialize() before loss()")
        check_batch(inputs, rows, self.feature_dim)
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
        check_batch(inputs, rows, self.feature_dim)
        momentum_update_(self.features, rows, inputs, self.momentum)

    def get_extra_state(self) -> dict[str, int]:
        return {"num_source_classes": self.num_source_classes}

    def set_extra_state(self, state: Any) -> None:
        self._check_saved_source_classes(state)

    def _check_saved_source_classes(self, state: Any) -> None:
        saved = int(state["num_source_classes"])
        if saved != self.num_source_classes:
            raise ValueError(
                f"the saved HybridMemory has {saved} source class rows, this run's label space "
                f"{self.num_source_classes}: it was saved by a run with another source dataset"
            )

    def _load_from_state_dict(self, state_dict: Mapping[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        extra = state_dict.get(prefix + "_extra_state")
        if extra is not None:  # before any buffer is touched, so a refused state changes nothing
            self._check_saved_source_classes(extra)
        adopt_saved_shapes(self, state_dict, prefix, ["features", "labels"])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return (
            f"feature_dim={self.feature_dim}, rows={self.features.shape[0]}, "
            f"num_source_classes={self.num_source_classes}, temperature={self.temperature}, momentum={self.momentum}"
        )

"""Cluster Contrast's memory: one momentum-updated centroid per pseudo-label cluster.

Upstream (``clustercontrast/models/cm.py``) rebuilds the memory every epoch from the cluster means
and updates it inside ``backward``. Here the rebuild is ``reset`` and the update is an explicit
``update`` call after the optimiser step (SpCL issue #15: an update hidden in backward happens only
when, and as often as, backward runs).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reidkit.adapters.clustering.centroids import class_centroids
from reidkit.adapters.data.batch import TrainingBatch
from reidkit.adapters.memory.updates import (
    adopt_saved_shapes,
    check_batch,
    check_dimension,
    check_memory_settings,
    momentum_update_,
)
from reidkit.domain.errors import PseudoLabelError
from reidkit.domain.types import FeatureMatrix, PseudoLabels

UpdateRule = Literal["mean", "hard"]


class ClusterMemory(nn.Module):
    """K x d centroids, K the number of clusters of the current epoch; loss = CE over the centroids.
    Implements ``MemoryBank[TrainingBatch, Tensor]``.

    ``update="mean"`` moves a centroid towards every member in the batch (upstream ``CM``);
    ``"hard"`` moves it once, towards the member least similar to it (upstream ``CM_Hard``).
    With ``learn_temperature`` the temperature is a trainable ``exp(log_temperature)``, so it
    stays positive while the optimiser moves it.
    """

    features: Tensor

    def __init__(
        self,
        feature_dim: int,
        *,
        temperature: float = 0.05,
        momentum: float = 0.2,
        update: UpdateRule = "mean",
        learn_temperature: bool = False,
    ) -> None:
        super().__init__()
        check_memory_settings(feature_dim, temperature, momentum)
        if update not in ("mean", "hard"):
            raise ValueError(f"update must be 'mean' or 'hard', got {update!r}")
        self.feature_dim = int(feature_dim)
        self.momentum = float(momentum)
        self.update_rule: UpdateRule = update
        self.learn_temperature = bool(learn_temperature)
        self._temperature = float(temperature)
        if self.learn_temperature:
            self.log_temperature = nn.Parameter(torch.tensor(math.log(temperature), dtype=torch.float32))
        self.register_buffer("features", torch.zeros(0, self.feature_dim))

    @property
    def temperature(self) -> Tensor | float:
        """The current temperature: a 0-d tensor in the graph when learnt, else the fixed float."""
        return self.log_temperature.exp() if self.learn_temperature else self._temperature

    @property
    def num_clusters(self) -> int:
        return int(self.features.shape[0])

    @property
    def initialized(self) -> bool:
        return self.num_clusters > 0

    def initialize(self, rows: FeatureMatrix) -> None:
        """One centroid per row (normalised): each row its own cluster until the next reset."""
        check_dimension(rows, self.feature_dim)
        if len(rows) == 0:
            raise ValueError("ClusterMemory.initialize needs at least one row")
        values = torch.from_numpy(np.array(rows.values))
        self.features = F.normalize(values, dim=1).to(self.features)

    def reset(self, features: FeatureMatrix, labels: PseudoLabels) -> None:
        """Rebuilds the rows as the L2-normalised mean feature of clusters 0..K-1; outliers (-1)
        take no part."""
        if len(features) != len(labels):
            raise ValueError(f"features ({len(features)} rows) and labels ({len(labels)}) differ in length")
        check_dimension(features, self.feature_dim)
        if labels.num_clusters == 0:
            raise PseudoLabelError(
                f"the pseudo labels hold no cluster (all {len(labels)} samples are outliers): nothing to build the memory from"
            )
        self.features = cluster_means(features, labels).to(self.features)

    def snapshot(self) -> FeatureMatrix:
        return FeatureMatrix(self.features.detach().cpu().numpy())

    def targets(self, batch: TrainingBatch) -> Tensor:
        """The memory row of each sample: its pseudo label."""
        return batch.labels.to(device=self.features.device, dtype=torch.long)

    def loss(self, inputs: Tensor, targets: Tensor) -> Tensor:
        """Cross-entropy of the normalised inputs against the centroids; the buffer gets no gradient."""
        if self.num_clusters == 0:
            raise RuntimeError("ClusterMemory is empty: call reset() before loss()")
        check_batch(inputs, targets, self.feature_dim)
        with torch.autocast(inputs.device.type, enabled=False):
            x = F.normalize(inputs.float(), dim=1)
            logits = x.mm(self.features.detach().t()) / self.temperature
            return F.cross_entropy(logits, targets.to(logits.device))

    def update(self, inputs: Tensor, targets: Tensor) -> None:
        """Momentum update of the centroids from a batch (call it after the optimiser step)."""
        check_batch(inputs, targets, self.feature_dim)
        x = F.normalize(inputs.detach().to(self.features), dim=1)
        targets = targets.to(device=self.features.device, dtype=torch.long)
        if self.update_rule == "hard":
            chosen = hardest_per_label(x, targets, self.features)
            x, targets = x[chosen], targets[chosen]
        momentum_update_(self.features, targets, x, self.momentum)

    def _load_from_state_dict(self, state_dict: Mapping[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        adopt_saved_shapes(self, state_dict, prefix, ["features"])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return (
            f"feature_dim={self.feature_dim}, num_clusters={self.num_clusters}, temperature={self._temperature}, "
            f"momentum={self.momentum}, update={self.update_rule!r}, learn_temperature={self.learn_temperature}"
        )


def cluster_means(features: FeatureMatrix, labels: PseudoLabels) -> Tensor:
    """(K, d) float32 L2-normalised mean of each cluster 0..K-1, summed in float64; -1 is skipped."""
    return torch.from_numpy(class_centroids(features, labels.labels).values.copy())


def hardest_per_label(x: Tensor, targets: Tensor, centroids: Tensor) -> Tensor:
    """Positions of the sample least similar to its centroid, one per label, in the order labels
    first appear in the batch; ties go to the earliest sample (numpy's argmin, as upstream)."""
    similarity = (x * centroids[targets]).sum(dim=1)
    labels, inverse = torch.unique(targets, return_inverse=True)
    lowest = torch.full((labels.numel(),), math.inf, dtype=similarity.dtype, device=x.device)
    lowest = lowest.scatter_reduce(0, inverse, similarity, reduce="amin")
    positions = torch.arange(targets.numel(), device=x.device)
    at_minimum = torch.where(similarity == lowest[inverse], positions, targets.numel())
    first_at_minimum = torch.full_like(labels, targets.numel()).scatter_reduce(0, inverse, at_minimum, reduce="amin")
    first_seen = torch.full_like(labels, targets.numel()).scatter_reduce(0, inverse, positions, reduce="amin")
    return first_at_minimum[torch.argsort(first_seen)]

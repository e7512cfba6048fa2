"""Feature extraction shared out between the ranks of a process group."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from reidkit.adapters.runtime.collectives import ProcessGroup
from reidkit.domain.ports import FeatureEncoder
from reidkit.domain.types import FeatureMatrix, ImageRecord


class ShardedEncoder:
    """A ``FeatureEncoder``: rank r encodes the r-th contiguous slice of the records, every rank
    receives all the rows, in the records' order.

    Every slice has ceil(n / world size) records, the last ones padded by repeating the final
    record, so the ranks exchange equal shapes; the padding rows are dropped after the gather.
    (OpenUnReID's slice sampler pads the same way; its padded rows fed the clustering.)
    """

    def __init__(self, inner: FeatureEncoder, group: ProcessGroup) -> None:
        self.inner = inner
        self.group = group

    def encode(self, records: Sequence[ImageRecord]) -> FeatureMatrix:
        records = tuple(records)
        if not records:
            return self.inner.encode(records)
        indexes = shard_indexes(len(records), self.group.rank, self.group.world_size)
        local = self.inner.encode([records[i] for i in indexes]).values
        rows = self.group.all_gather_rows(torch.from_numpy(np.array(local, dtype=np.float32)))
        return FeatureMatrix(rows[: len(records)].numpy())


def shard_indexes(count: int, rank: int, world_size: int) -> list[int]:
    """Rank ``rank``'s contiguous share of ``range(count)``, ceil(count / world_size) long, padded
    with ``count - 1``; the shares of ranks 0, 1, ... concatenated start with ``range(count)``."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    size = math.ceil(count / world_size)
    return [min(i, count - 1) for i in range(rank * size, (rank + 1) * size)]

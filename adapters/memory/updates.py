"""Helpers both memory banks share: the momentum update and loading a state of another size.

Upstream applies the momentum update inside ``backward`` one sample at a time, so a row that appears
twice in a batch is updated twice, the second time from the already-updated value. The vectorised
update below keeps exactly that order without a Python loop over the batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn

from reidkit.domain.types import FeatureMatrix


def occurrence_rank(rows: Tensor) -> Tensor:
    """For each position, how many earlier positions hold the same row (0 for a first appearance)."""
    count = rows.numel()
    order = torch.argsort(rows, stable=True)
    ordered = rows[order]
    positions = torch.arange(count, device=rows.device)
    starts = torch.ones(count, dtype=torch.bool, device=rows.device)
    starts[1:] = ordered[1:] != ordered[:-1]
    group_start = torch.cummax(torch.where(starts, positions, torch.zeros_like(positions)), dim=0).values
    rank = torch.empty_like(positions)
    rank[order] = positions - group_start
    return rank


def momentum_update_(memory: Tensor, rows: Tensor, inputs: Tensor, momentum: float) -> None:
    """``memory[row] = momentum * memory[row] + (1 - momentum) * x``, then renormalise the row,
    for every (row, x) of the batch in batch order, in place.

    The r-th occurrences of distinct rows do not interact, so all of them are updated at once; ranks
    are processed in increasing order, which reproduces the sequential loop exactly.
    """
    if rows.dim() != 1 or inputs.dim() != 2 or inputs.shape[0] != rows.shape[0]:
        raise ValueError(f"rows (B,) and inputs (B, d) disagree: {tuple(rows.shape)} vs {tuple(inputs.shape)}")
    if rows.numel() == 0:
        return
    with torch.no_grad():
        rows = rows.to(device=memory.device, dtype=torch.long)
        inputs = inputs.detach().to(device=memory.device, dtype=memory.dtype)
        rank = occurrence_rank(rows)
        for r in range(int(rank.max()) + 1):
            chosen = rank == r
            targets = rows[chosen]
            mixed = momentum * memory[targets] + (1.0 - momentum) * inputs[chosen]
            memory[targets] = mixed / mixed.norm(dim=1, keepdim=True)


def adopt_saved_shapes(module: nn.Module, state_dict: Mapping[str, Tensor], prefix: str, names: Iterable[str]) -> None:
    """Replaces each named buffer by an empty one of the saved shape (same device and dtype), so
    ``load_state_dict`` can copy a memory whose row count differs from the current one."""
    for name in names:
        saved = state_dict.get(prefix + name)
        current = getattr(module, name)
        if isinstance(saved, Tensor) and saved.shape != current.shape:
            setattr(module, name, current.new_empty(saved.shape))


def check_memory_settings(feature_dim: int, temperature: float, momentum: float) -> None:
    """The settings both memories share, each refused with a one-line error naming it."""
    if feature_dim < 1:
        raise ValueError(f"feature_dim must be >= 1, got {feature_dim}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")


def check_dimension(features: FeatureMatrix, feature_dim: int) -> None:
    if features.dim != feature_dim:
        raise ValueError(f"features have dimension {features.dim}, the memory {feature_dim}")


def check_batch(inputs: Tensor, targets: Tensor, feature_dim: int) -> None:
    """Inputs (B, d) of the memory's dimension and one target per input, else a one-line error
    (rather than a matrix-product error from deep inside the loss)."""
    if inputs.dim() != 2 or inputs.shape[1] != feature_dim:
        raise ValueError(f"inputs must be (B, {feature_dim}) for this memory, got {tuple(inputs.shape)}")
    if targets.shape != (inputs.shape[0],):
        raise ValueError(f"targets must be ({inputs.shape[0]},), one per input, got {tuple(targets.shape)}")

"""How a training step keeps its model replicas in step: nothing to do in one process, DDP under
torchrun. A step holds the unwrapped model (it is what checkpoints, encoders and mean teachers
see) and runs its forward pass through ``replicas.wrap(model)``.

Steps re-wrap every epoch: a pseudo-label method resizes its classifier between epochs, and DDP's
gradient buckets are laid out once, for the parameter sizes it was built with.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from reidkit.adapters.runtime.collectives import ProcessGroup
from reidkit.domain.errors import ProfileError


class Replicas(Protocol):
    def wrap(self, module: nn.Module, *, find_unused_parameters: bool = False) -> nn.Module:
        """What the forward pass calls: ``module`` itself, or a wrapper that syncs its gradients."""
        ...

    def average_gradients(self, module: object) -> None:
        """Averages over the ranks the gradients of trainable parameters outside the wrapped model
        (e.g. a memory's learnt temperature)."""
        ...

    def sync_buffers(self, modules: Iterable[nn.Module]) -> None:
        """Gives every rank rank 0's buffers (BatchNorm statistics): called after each step."""
        ...

    def all_finite(self, value: torch.Tensor) -> bool:
        """Whether ``value`` is finite on every rank (so that every rank skips the same steps):
        one device sync, and under torchrun one all-reduce of a single number."""
        ...


class LocalReplica:
    """One process: the model is its own and only replica."""

    def wrap(self, module: nn.Module, *, find_unused_parameters: bool = False) -> nn.Module:
        return module

    def average_gradients(self, module: object) -> None:
        return None

    def sync_buffers(self, modules: Iterable[nn.Module]) -> None:
        return None

    def all_finite(self, value: torch.Tensor) -> bool:
        return bool(torch.isfinite(value.detach()).all())


class DistributedReplicas:
    """One replica per rank: DistributedDataParallel averages the gradients during backward.

    DDP's own per-forward buffer sync is off: ``sync_buffers`` after the step does the same
    (rank 0's statistics win) and also leaves every rank with the same model between epochs, when
    features are extracted shard by shard.
    """

    def __init__(self, group: ProcessGroup) -> None:
        if not group.distributed:
            raise ValueError("DistributedReplicas needs world_size > 1; use LocalReplica in one process")
        self.group = group

    def wrap(self, module: nn.Module, *, find_unused_parameters: bool = False) -> nn.Module:
        device = self.group.device
        return DistributedDataParallel(
            module,
            device_ids=[device.index if device.index is not None else torch.cuda.current_device()]
            if device.type == "cuda"
            else None,
            forward_sync_buffers=False,
            find_unused_parameters=find_unused_parameters,
        )

    def average_gradients(self, module: object) -> None:
        parameters = getattr(module, "parameters", None)
        if parameters is None:
            return
        for parameter in parameters():
            if parameter.requires_grad:
                parameter.register_hook(self.group.all_reduce_mean)

    def sync_buffers(self, modules: Iterable[nn.Module]) -> None:
        buffers = [b for module in modules for b in module.buffers()]
        by_kind: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
        for buffer in buffers:
            by_kind.setdefault((buffer.dtype, buffer.device), []).append(buffer)
        with torch.no_grad():
            for group in by_kind.values():
                # One broadcast per dtype: BN statistics are many small tensors.
                flat = torch.cat([b.reshape(-1) for b in group])
                self.group.broadcast_(flat)
                offset = 0
                for buffer in group:
                    buffer.copy_(flat[offset : offset + buffer.numel()].view_as(buffer))
                    offset += buffer.numel()


    def all_finite(self, value: torch.Tensor) -> bool:
        finite = torch.isfinite(value.detach()).all().to(torch.float32).reshape(1)
        return bool(self.group.all_reduce_mean(finite).item() == 1.0)


def replicas_for(group: ProcessGroup) -> Replicas:
    return DistributedReplicas(group) if group.distributed else LocalReplica()


def with_sync_batchnorm(model: nn.Module, group: ProcessGroup) -> nn.Module:
    """``model`` with every BatchNorm (DSBN's per-domain ones included: convert DSBN first) a
    SyncBatchNorm, so the statistics cover the global batch. The parameters stay the same objects
    and the state-dict keys the same, so checkpoints load into a plain model. One process keeps
    plain BatchNorm (nothing to synchronise); torch's SyncBatchNorm runs on GPUs only."""
    if not group.distributed:
        return model
    if group.device.type != "cuda":
        raise ProfileError(
            "runtime.sync_bn needs CUDA devices (torch's SyncBatchNorm is GPU-only); set it false for a CPU run"
        )
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)

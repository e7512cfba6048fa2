"""How every DataLoader of a run loads: worker processes, pinned memory, persistence, prefetch.

``loader_options`` is the one place where ``[input] num_workers = "auto"`` becomes numbers: on a
CUDA device, up to ``AUTO_MAX_WORKERS`` worker processes (the CPUs this process may use, shared
among the ranks of this node), pinned host memory for the copies to the GPU, workers kept alive
across epochs and a few batches prefetched per worker; on the CPU no worker at all (the images
decode in the training process, as they always did, so CPU runs and their figures do not change).
An explicit worker count wins over "auto"; the other options follow from it and the device.
"""

from __future__ import annotations

import os
from typing import Any

from attrs import field, frozen, validators as v

AUTO_MAX_WORKERS = 8  # past ~8 decoding workers a re-ID step is the bottleneck, and each costs memory
PREFETCH_FACTOR = 4  # batches in flight per worker (DataLoader's default is 2)


@frozen(kw_only=True)
class LoaderOptions:
    """What a DataLoader is given besides its data; the defaults are the in-process loader."""

    num_workers: int = field(default=0, validator=v.ge(0))
    pin_memory: bool = False
    # a loader iterated once per epoch keeps its worker processes (and their imports) between epochs
    persistent_workers: bool = False
    prefetch_factor: int | None = None  # batches in flight per worker; None with no workers

    def __attrs_post_init__(self) -> None:
        if self.num_workers == 0 and (self.persistent_workers or self.prefetch_factor is not None):
            raise ValueError("persistent_workers and prefetch_factor need num_workers >= 1")

    def dataloader_kwargs(self, *, persistent: bool = True) -> dict[str, Any]:
        """Keyword arguments of ``torch.utils.data.DataLoader``; ``persistent`` False for a
        loader iterated only once (keeping its workers would only hold their memory)."""
        kwargs: dict[str, Any] = {"num_workers": self.num_workers, "pin_memory": self.pin_memory}
        if self.num_workers:
            kwargs["persistent_workers"] = self.persistent_workers and persistent
            kwargs["prefetch_factor"] = self.prefetch_factor
        return kwargs


def available_cpus() -> int:
    """CPUs this process may run on (its affinity, e.g. a container's or a Slurm job's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def ranks_on_this_machine(env: Any = None) -> int:
    """Processes of this job on this machine: torchrun's LOCAL_WORLD_SIZE, else 1."""
    text = str((os.environ if env is None else env).get("LOCAL_WORLD_SIZE", "")).strip()
    return int(text) if text.isdigit() and int(text) > 0 else 1


def loader_options(
    num_workers: int | str, device: Any, *, local_ranks: int = 1, cpus: int | None = None
) -> LoaderOptions:
    """``num_workers`` (a count, or "auto") on ``device`` (a torch.device or its name) for one of
    ``local_ranks`` processes on this machine. See the module's docstring."""
    cuda = str(getattr(device, "type", device)).split(":")[0] == "cuda"
    if num_workers == "auto":
        share = (cpus if cpus is not None else available_cpus()) // max(1, local_ranks)
        workers = min(AUTO_MAX_WORKERS, max(1, share)) if cuda else 0
    elif isinstance(num_workers, int) and not isinstance(num_workers, bool) and num_workers >= 0:
        workers = num_workers
    else:
        raise ValueError(f"num_workers must be 'auto' or a count >= 0, got {num_workers!r}")
    return LoaderOptions(
        num_workers=workers,
        pin_memory=cuda,
        persistent_workers=workers > 0,
        prefetch_factor=PREFETCH_FACTOR if workers else None,
    )

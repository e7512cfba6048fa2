"""The process runtime: threads, seeds, logging, device and (under torchrun) the process group.

It is a dependency-injector Resource: started by ``init_resources()`` inside ``main``, torn down by
``shutdown_resources()``, never at import time. Rank and world size come only from torchrun's
environment variables.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import structlog
import torch
import torch.distributed as dist
from attrs import frozen

from reidkit.adapters.runtime.device import configure_threads, resolve_device
from reidkit.adapters.runtime.logging import configure_logging
from reidkit.adapters.runtime.seeding import seed_everything


@frozen
class ProcessRuntime:
    device: torch.device
    rank: int
    world_size: int
    run_dir: Path

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def process_runtime(
    *, seed: int, threads: int, device: str, run_dir: str, timeout_s: float = 600.0
) -> Iterator[ProcessRuntime]:
    rank = int(os.environ.get("RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    folder = Path(run_dir)
    log_file = configure_logging(folder / "log.jsonl", rank=rank)
    configure_threads(threads)
    resolved = resolve_device(device)
    if resolved.type == "cuda" and world_size > 1:
        resolved = torch.device("cuda", local_rank)
        torch.cuda.set_device(resolved)
    started_group = False
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if resolved.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
        started_group = True
    seed_everything(seed)
    structlog.get_logger("reidkit").info(
        "runtime", device=str(resolved), rank=rank, world_size=world_size, run_dir=str(folder)
    )
    try:
        yield ProcessRuntime(device=resolved, rank=rank, world_size=world_size, run_dir=folder)
    finally:
        if started_group:
            dist.destroy_process_group()
        if log_file is not None:
            log_file.close()

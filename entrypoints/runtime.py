"""The process runtime: threads, seeds, logging, device and (under torchrun) the process group.

It is a dependency-injector Resource: started by ``init_resources()`` inside ``main``, torn down by
``shutdown_resources()``, never at import time. Rank and world size come only from torchrun's
environment variables. ``timeout_s`` (``runtime.collective_timeout_s``) bounds the rendezvous and
every collective: the longest any rank may wait for the others (see docs/doctor.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import structlog
import torch
from attrs import frozen

from reidkit.adapters.runtime.device import configure_threads, resolve_device
from reidkit.adapters.runtime.logging import configure_logging
from reidkit.adapters.runtime.process_group import Launch, backend_for, harden_nccl, process_group, rank_device
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
    *, seed: int, threads: int, device: str, run_dir: str, timeout_s: float = 300.0
) -> Iterator[ProcessRuntime]:
    launch = Launch.from_environ(os.environ)
    folder = Path(run_dir)
    with ExitStack() as stack:
        log_file = configure_logging(folder / "log.jsonl", rank=launch.rank)
        if log_file is not None:
            stack.callback(log_file.close)
        configure_threads(threads)
        resolved = rank_device(launch, resolve_device(device))
        backend = backend_for(resolved)
        if backend == "nccl" and launch.distributed:
            harden_nccl(os.environ)
        started = stack.enter_context(process_group(launch, backend, timeout_s=timeout_s, device=resolved))
        seed_everything(seed)
        structlog.get_logger("reidkit").info(
            "runtime", device=str(resolved), rank=launch.rank, world_size=launch.world_size, run_dir=str(folder),
            **({"backend": backend, "collective_timeout_s": timeout_s} if started else {}),
        )  # fmt: skip
        yield ProcessRuntime(device=resolved, rank=launch.rank, world_size=launch.world_size, run_dir=folder)

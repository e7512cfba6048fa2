"""The process runtime: threads, seeds, logging, device and (under torchrun) the process group.

It is a dependency-injector Resource: started by ``init_resources()`` inside ``main``, torn down by
``shutdown_resources()``, never at import time. Rank and world size come only from torchrun's
environment variables. ``timeout_s`` (``runtime.collective_timeout_s``) bounds the rendezvous and
every collective: the longest any rank may wait for the others (see docs/doctor.md). Rank 0 first
makes sure the run folder is a folder it can write to, so that a mistyped ``--work-dir`` is one line
before any work rather than a traceback at the first checkpoint.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import structlog
import torch
from attrs import frozen

from reidkit.adapters.runtime.device import configure_threads, resolve_device
from reidkit.adapters.runtime.logging import configure_logging
from reidkit.adapters.runtime.process_group import (
    Launch,
    Peer,
    backend_for,
    exchange_peers,
    harden_nccl,
    process_group,
    rank_device,
)
from reidkit.adapters.runtime.seeding import seed_everything
from reidkit.domain.errors import ReidkitError


@frozen
class ProcessRuntime:
    """``peers``: every rank's process under torchrun (empty in a single process)."""

    device: torch.device
    rank: int
    world_size: int
    run_dir: Path
    peers: tuple[Peer, ...] = ()

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def leave_together(self) -> None:
        """Under torchrun, waits for every rank to finish before this one closes its sockets: a
        rank that leaves while its last send is still on the way makes gloo abort the reading
        peer ("terminate called without an active exception") after that peer's run finished.
        Only after a run that finished: after a failure the peers may be gone or hung."""
        if self.peers:
            torch.distributed.barrier()


def process_runtime(
    *, seed: int, threads: int, device: str, run_dir: str, timeout_s: float = 300.0, quiet: bool = False
) -> Iterator[ProcessRuntime]:
    launch = Launch.from_environ(os.environ)
    folder = Path(run_dir)
    if launch.rank == 0:
        writable_run_folder(folder)
    with ExitStack() as stack:
        # quiet: the console shows warnings and errors only; log.jsonl keeps every event
        log_file = configure_logging(folder / "log.jsonl", rank=launch.rank, console_level="warning" if quiet else None)
        if log_file is not None:
            stack.callback(log_file.close)
        configure_threads(threads)
        resolved = rank_device(launch, resolve_device(device))
        backend = backend_for(resolved)
        if backend == "nccl" and launch.distributed:
            harden_nccl(os.environ)
        started = stack.enter_context(process_group(launch, backend, timeout_s=timeout_s, device=resolved))
        peers = exchange_peers(launch.rank, launch.world_size) if started else ()
        seed_everything(seed)
        structlog.get_logger("reidkit").info(
            "runtime", device=str(resolved), rank=launch.rank, world_size=launch.world_size, run_dir=str(folder),
            **({"backend": backend, "collective_timeout_s": timeout_s} if started else {}),
        )  # fmt: skip
        yield ProcessRuntime(device=resolved, rank=launch.rank, world_size=launch.world_size, run_dir=folder, peers=peers)


def writable_run_folder(folder: Path) -> None:
    """Creates ``folder`` if need be and checks that files can be created in it; a path that is a
    file, cannot be created or is read-only is one line naming it."""
    if folder.exists() and not folder.is_dir():
        raise ReidkitError(f"the run folder {folder} is a file, not a folder; choose another --work-dir")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ReidkitError(f"cannot create the run folder {folder}: {err.strerror or err}; choose another --work-dir") from None
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".reidkit-write-check."):
            pass
    except OSError as err:
        raise ReidkitError(f"cannot write in the run folder {folder}: {err.strerror or err}; choose another --work-dir") from None

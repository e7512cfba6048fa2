"""Starting, hardening and closing the torch.distributed process group torchrun asks for.

Three failure modes become one line each instead of a hang or a long traceback:
- the rendezvous fails (a wrong MASTER_ADDR/PORT or WORLD_SIZE, a rank that never starts):
  ``ProcessGroupError`` names the launch and what to check;
- a peer dies or hangs during a collective: gloo raises after the group's timeout (at once when the
  peer's socket closes); ``collective_failure_message`` turns that error into one line;
- NCCL reports errors from a watchdog thread, not from the collective call: with asynchronous
  error handling on (``TORCH_NCCL_ASYNC_ERROR_HANDLING=1``) the watchdog aborts the communicator and
  ends the process after the timeout, so no rank waits forever; torchrun then stops the others.

A hung rank (stopped, or wedged where no signal handler runs) ignores the SIGTERM torchrun sends
when the others fail, and torchrun waits 30 s before its SIGKILL. So the ranks exchange who they are
when the group starts (``Peer``), and a rank whose collective timed out stops the peers of its own
launcher that are still running a moment after it closed its group (``stop_stalled_peers``).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
from attrs import field, frozen, validators

from reidkit.domain.errors import ReidkitError

# Values reidkit sets for NCCL unless the user has set them: 1 = on a timeout or error, abort the
# communicator (freeing peers blocked in NCCL kernels) and end the process. torch 2.x defaults to 3
# (end the process without aborting). TORCH_NCCL_BLOCKING_WAIT stays unset: it makes wait() raise in
# Python, at a cost on every collective; set it by hand when debugging.
NCCL_DEFAULTS = {"TORCH_NCCL_ASYNC_ERROR_HANDLING": "1"}

# gloo raises a bare RuntimeError whose text starts with the C++ source location.
_GLOO_FAILURE = re.compile(r"gloo/transport|Connection (reset|closed) by peer|Timed out waiting \d+ms")
_SOURCE_LOCATION = re.compile(r"^\[[^\]]*\.(cc|cpp|hpp|h):\d+\]\s*")
_ADVICE = re.compile(r"This is typically|Check the logs|GLHF")
_TIMEOUT = "a peer stayed silent longer than runtime.collective_timeout_s"


class ProcessGroupError(ReidkitError):
    """The process group could not start (rendezvous, world size, backend); every rank reports its
    own (the message names the rank where it matters)."""

    rank_specific = True


@frozen(kw_only=True)
class Launch:
    """Where this process sits in the job, as torchrun's environment variables say."""

    rank: int = field(validator=validators.ge(0))
    world_size: int = field(validator=validators.ge(1))
    local_rank: int = field(default=0, validator=validators.ge(0))
    master_addr: str = ""
    master_port: str = ""

    def __attrs_post_init__(self) -> None:
        if self.rank >= self.world_size:
            raise ProcessGroupError(f"RANK={self.rank} is not below WORLD_SIZE={self.world_size}")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def endpoint(self) -> str:
        return f"MASTER_ADDR={self.master_addr or '(unset)'} MASTER_PORT={self.master_port or '(unset)'}"

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> Launch:
        """Reads RANK, WORLD_SIZE, LOCAL_RANK (absent: a single process) and the master endpoint."""

        def number(name: str, default: int) -> int:
            text = env.get(name, "").strip()
            if not text:
                return default
            try:
                value = int(text)
            except ValueError:
                raise ProcessGroupError(f"{name}={text!r} is not an integer (set by torchrun)") from None
            if value < 0:
                raise ProcessGroupError(f"{name}={value} must be >= 0")
            return value

        world_size = number("WORLD_SIZE", 1)
        if world_size < 1:
            raise ProcessGroupError("WORLD_SIZE=0: a job needs at least one process")
        return cls(
            rank=number("RANK", 0),
            world_size=world_size,
            local_rank=number("LOCAL_RANK", 0),
            master_addr=env.get("MASTER_ADDR", ""),
            master_port=env.get("MASTER_PORT", ""),
        )


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def rank_device(launch: Launch, device: torch.device) -> torch.device:
    """Under torchrun each rank on a node takes the GPU of its LOCAL_RANK (and makes it current)."""
    if device.type != "cuda" or not launch.distributed:
        return device
    visible = torch.cuda.device_count()
    if launch.local_rank >= visible:
        raise ProcessGroupError(
            f"LOCAL_RANK={launch.local_rank} has no GPU: {visible} visible on this node; "
            f"start at most {visible} processes per node (--nproc-per-node) or check CUDA_VISIBLE_DEVICES"
        )
    ranked = torch.device("cuda", launch.local_rank)
    torch.cuda.set_device(ranked)
    return ranked


def harden_nccl(env: MutableMapping[str, str]) -> dict[str, str]:
    """Sets ``NCCL_DEFAULTS`` in ``env`` where unset (before the group starts); returns what it set."""
    added = {name: value for name, value in NCCL_DEFAULTS.items() if name not in env}
    env.update(added)
    return added


@contextmanager
def process_group(launch: Launch, backend: str, *, timeout_s: float, device: torch.device | None = None) -> Iterator[bool]:
    """Starts the group when the launch is distributed and none is running; yields whether it did,
    and destroys what it started on the way out (also after an error, so no rank keeps a socket
    its peers wait on)."""
    if not timeout_s > 0:
        raise ValueError(f"collective timeout must be > 0 seconds, got {timeout_s!r}")
    if not launch.distributed or dist.is_initialized():
        yield False
        return
    if not dist.is_available() or not dist.is_backend_available(backend):
        raise ProcessGroupError(f"torch.distributed backend {backend!r} is not available in this torch build")
    options = {"device_id": device} if backend == "nccl" and device is not None else {}
    try:
        dist.init_process_group(
            backend, rank=launch.rank, world_size=launch.world_size, timeout=timedelta(seconds=timeout_s), **options
        )
    except (ValueError, RuntimeError) as err:  # DistStoreError/DistNetworkError are RuntimeErrors
        raise ProcessGroupError(
            f"could not start the {backend} process group as rank {launch.rank} of {launch.world_size} "
            f"({launch.endpoint}): {first_line(err)}; check that every rank has the same MASTER_ADDR, "
            f"MASTER_PORT and WORLD_SIZE, that the master is reachable, and that all ranks started "
            f"within runtime.collective_timeout_s ({timeout_s:g} s)"
        ) from err
    try:
        yield True
    finally:
        dist.destroy_process_group()


@frozen
class Peer:
    """One rank's process, as the others need to know it: on which host, its pid, and the pid of
    the launcher that started it."""

    rank: int
    host: str
    pid: int
    parent: int

    @classmethod
    def me(cls, rank: int) -> Peer:
        return cls(rank=rank, host=socket.gethostname(), pid=os.getpid(), parent=os.getppid())


def exchange_peers(rank: int, world_size: int) -> tuple[Peer, ...]:
    """Every rank's ``Peer``, in rank order (one all-gather when the group starts)."""
    mine = Peer.me(rank)
    gathered: list[object] = [None] * world_size
    dist.all_gather_object(gathered, (mine.rank, mine.host, mine.pid, mine.parent))
    return tuple(Peer(rank=r, host=h, pid=p, parent=pp) for r, h, p, pp in gathered)  # type: ignore[misc]


def stop_stalled_peers(peers: Sequence[Peer], *, rank: int, grace_s: float = 2.0) -> tuple[int, ...]:
    """After a collective timed out: SIGKILLs the peers on this host, started by this rank's own
    launcher, that are still running ``grace_s`` after this rank closed its group (a healthy peer
    fails at once when this rank's sockets close, prints its line and exits within that time).
    Returns their ranks. A peer is only killed while ``/proc`` still shows it as a running child of
    the same launcher (never a reused pid); without ``/proc`` nothing is done."""
    if not peers or rank >= len(peers):
        return ()
    me = peers[rank]
    local = [p for p in peers if p.rank != rank and p.host == me.host and p.parent == me.parent]
    deadline = time.monotonic() + grace_s
    while local and time.monotonic() < deadline:
        time.sleep(0.1)
        local = [p for p in local if _running_child(p.pid, me.parent)]
    stopped = []
    for peer in local:
        if _running_child(peer.pid, me.parent):
            try:
                os.kill(peer.pid, signal.SIGKILL)
            except OSError:
                continue
            stopped.append(peer.rank)
    return tuple(stopped)


def _running_child(pid: int, parent: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process whose parent is ``parent``, per /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (comm) ": state, ppid, ...
    return len(fields) > 1 and fields[0] not in ("Z", "X") and fields[1] == str(parent)


def is_collective_timeout(err: BaseException) -> bool:
    """Whether ``err`` is a collective that timed out waiting for a peer (a hung one)."""
    message = collective_failure_message(err, rank=0, world_size=0)
    return message is not None and _TIMEOUT in message


def first_line(err: BaseException) -> str:
    """The first sentence of an error's text, without gloo's C++ source location or its advice."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    sentences = re.split(r"(?<=\.)\s+", _SOURCE_LOCATION.sub("", text))
    return " ".join(s for s in sentences if not _ADVICE.match(s)).rstrip(". ")


def collective_failure_message(err: BaseException, *, rank: int | str, world_size: int | str) -> str | None:
    """One line for a collective that failed because a peer died or hung; None for other errors."""
    is_dist_error = isinstance(err, dist.DistError) and not isinstance(err, dist.DistStoreError)
    if not (is_dist_error or (isinstance(err, RuntimeError) and _GLOO_FAILURE.search(str(err)))):
        return None
    what = first_line(err)
    cause = (
        f"{_TIMEOUT} (hung, or killed without closing its socket)"
        if "timed out" in what.lower() or "timeout" in what.lower()
        else "a peer's connection dropped (it died or exited early)"
    )
    return f"rank {rank} of {world_size}: a collective failed: {what}; {cause}; the first failing rank's log names the cause"

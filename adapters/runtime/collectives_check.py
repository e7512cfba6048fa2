"""Sanity checks of the collectives a run relies on: results checked on every rank, timed across ranks.

Each check fills a tensor with a rank-dependent pattern of small integers (exact in float32),
runs the collective ``repeats`` times after a warm-up, checks every result against the value it
must have, then the ranks compare notes with one all_gather: each rank's median time and whether
it saw a wrong value. Every rank therefore returns the same report.

Bus bandwidth follows nccl-tests' convention, so figures compare with theirs and across world
sizes: bytes moved per rank / time of the slowest rank, times 2(n-1)/n for all_reduce, (n-1)/n
for all_gather (bytes = the gathered output) and 1 for broadcast.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import torch
import torch.distributed as dist
from attrs import frozen

COLLECTIVES = ("all_reduce", "all_gather", "broadcast")
DEFAULT_SIZES = (1 << 10, 1 << 20, 16 << 20)  # 1 KB, 1 MB, 16 MB per rank
_ELEMENT = 4  # float32 bytes
_PERIOD = 251  # pattern values stay small integers, so sums are exact in float32


@frozen
class CollectiveTiming:
    """One collective at one size, as every rank saw it; times in seconds."""

    collective: str
    size_bytes: int
    world_size: int
    repeats: int
    seconds_min: float  # over ranks, of each rank's median over repeats
    seconds_median: float
    seconds_max: float
    bus_gbps: float
    failed_ranks: tuple[int, ...]  # ranks that saw a wrong result

    @property
    def ok(self) -> bool:
        return not self.failed_ranks


@frozen
class SoakReport:
    iterations: int
    seconds: float
    failed_ranks: tuple[int, ...]

    @property
    def ok(self) -> bool:
        return not self.failed_ranks


def pattern(numel: int, rank: int, device: torch.device) -> torch.Tensor:
    return (torch.arange(numel, device=device) % _PERIOD).float() + 256.0 * rank


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Stopwatch:
    """Times only the collective call: set-up and checks stay outside; a barrier first lines the
    ranks up so one rank's late start is not charged to the collective."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds: list[float] = []
        self._start = 0.0

    def start(self) -> None:
        _synchronize(self.device)  # the pattern is ready before the clock starts
        dist.barrier()
        _synchronize(self.device)
        self._start = time.perf_counter()

    def stop(self) -> None:
        _synchronize(self.device)
        self.seconds.append(time.perf_counter() - self._start)


def _all_reduce(numel: int, rank: int, world: int, device: torch.device, watch: _Stopwatch) -> Callable[[], bool]:
    def run() -> bool:
        tensor = pattern(numel, rank, device)
        expected = world * pattern(numel, 0, device) + 256.0 * world * (world - 1) / 2
        watch.start()
        dist.all_reduce(tensor)
        watch.stop()
        return torch.equal(tensor, expected)

    return run


def _all_gather(numel: int, rank: int, world: int, device: torch.device, watch: _Stopwatch) -> Callable[[], bool]:
    def run() -> bool:
        tensor = pattern(numel, rank, device)
        gathered = [torch.empty_like(tensor) for _ in range(world)]
        watch.start()
        dist.all_gather(gathered, tensor)
        watch.stop()
        return all(torch.equal(part, pattern(numel, r, device)) for r, part in enumerate(gathered))

    return run


def _broadcast(numel: int, rank: int, world: int, device: torch.device, watch: _Stopwatch) -> Callable[[], bool]:
    source = world - 1  # not rank 0, so a root-only path would be caught

    def run() -> bool:
        tensor = pattern(numel, source, device) if rank == source else torch.full((numel,), -1.0, device=device)
        watch.start()
        dist.broadcast(tensor, src=source)
        watch.stop()
        return torch.equal(tensor, pattern(numel, source, device))

    return run


_CHECKS = {"all_reduce": _all_reduce, "all_gather": _all_gather, "broadcast": _broadcast}
_BUS_FACTOR = {
    "all_reduce": lambda n: 2 * (n - 1) / n,
    "all_gather": lambda n: (n - 1) / n,
    "broadcast": lambda n: 1.0,
}


def bus_bandwidth_gbps(collective: str, size_bytes: int, world_size: int, seconds: float) -> float:
    if world_size == 1 or seconds <= 0:
        return 0.0  # a world of one moves nothing
    moved = size_bytes * world_size if collective == "all_gather" else size_bytes
    return moved / seconds * _BUS_FACTOR[collective](world_size) / 1e9


def _compare_notes(median_s: float, correct: bool, device: torch.device) -> tuple[list[float], tuple[int, ...]]:
    world = dist.get_world_size()
    mine = torch.tensor([median_s, 1.0 if correct else 0.0], dtype=torch.float64, device=device)
    notes = [torch.empty_like(mine) for _ in range(world)]
    dist.all_gather(notes, mine)
    rows = [note.tolist() for note in notes]
    return [row[0] for row in rows], tuple(r for r, row in enumerate(rows) if row[1] != 1.0)


def check_collective(
    collective: str, size_bytes: int, device: torch.device, *, repeats: int = 5, warmup: int = 1
) -> CollectiveTiming:
    if collective not in _CHECKS:
        raise ValueError(f"unknown collective {collective!r}; known: {', '.join(COLLECTIVES)}")
    if size_bytes < _ELEMENT or repeats < 1 or warmup < 0:
        raise ValueError(f"need size_bytes >= {_ELEMENT}, repeats >= 1, warmup >= 0; got {size_bytes}, {repeats}, {warmup}")
    rank, world = dist.get_rank(), dist.get_world_size()
    watch = _Stopwatch(device)
    run = _CHECKS[collective](size_bytes // _ELEMENT, rank, world, device, watch)
    correct = all([run() for _ in range(warmup + repeats)])  # a list: every repeat runs on every rank
    median_s, failed = _compare_notes(statistics.median(watch.seconds[warmup:]), correct, device)
    return CollectiveTiming(
        collective=collective,
        size_bytes=size_bytes,
        world_size=world,
        repeats=repeats,
        seconds_min=min(median_s),
        seconds_median=statistics.median(median_s),
        seconds_max=max(median_s),
        bus_gbps=bus_bandwidth_gbps(collective, size_bytes, world, max(median_s)),
        failed_ranks=failed,
    )


def check_collectives(
    device: torch.device, sizes: Sequence[int] = DEFAULT_SIZES, *, repeats: int = 5, warmup: int = 1
) -> list[CollectiveTiming]:
    """Every collective at every size, in the same order on every rank (as collectives must be)."""
    return [check_collective(c, s, device, repeats=repeats, warmup=warmup) for c in COLLECTIVES for s in sizes]


def soak(device: torch.device, seconds: float, *, size_bytes: int = 1 << 20) -> SoakReport:
    """All-reduces and checks ``size_bytes`` again and again for about ``seconds``, as a burn-in
    before a long run. The ranks agree when to stop (a MIN all-reduce of "my clock has not run
    out"), so none finishes early and leaves the others waiting."""
    rank, world = dist.get_rank(), dist.get_world_size()
    numel = size_bytes // _ELEMENT
    expected = world * pattern(numel, 0, device) + 256.0 * world * (world - 1) / 2
    start = time.perf_counter()
    iterations, correct = 0, True
    going = torch.ones(1, device=device)
    while going.item():
        tensor = pattern(numel, rank, device)
        dist.all_reduce(tensor)
        correct = correct and torch.equal(tensor, expected)
        iterations += 1
        going.fill_(1.0 if time.perf_counter() - start < seconds else 0.0)
        dist.all_reduce(going, op=dist.ReduceOp.MIN)
    elapsed = time.perf_counter() - start
    _, failed = _compare_notes(elapsed, correct, device)
    return SoakReport(iterations=iterations, seconds=elapsed, failed_ranks=failed)

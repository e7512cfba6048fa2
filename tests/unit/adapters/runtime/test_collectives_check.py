"""The collective checks in a one-process gloo group: results checked, timings reported, faults caught.

Two real ranks run in tests/e2e/test_doctor.py; here the checking logic itself is under test.
"""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist

from reidkit.adapters.runtime import collectives_check
from reidkit.adapters.runtime.collectives_check import (
    COLLECTIVES,
    bus_bandwidth_gbps,
    check_collective,
    check_collectives,
    pattern,
    soak,
)

CPU = torch.device("cpu")


@pytest.fixture
def group_of_one(tmp_path):
    dist.init_process_group("gloo", store=dist.FileStore(str(tmp_path / "store"), 1), rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_every_collective_at_every_size_passes_and_is_timed(group_of_one):
    results = check_collectives(CPU, (4, 1 << 10), repeats=2)
    assert [(r.collective, r.size_bytes) for r in results] == [(c, s) for c in COLLECTIVES for s in (4, 1 << 10)]
    for r in results:
        assert r.ok and r.failed_ranks == () and r.world_size == 1 and r.repeats == 2
        assert 0 < r.seconds_min <= r.seconds_median <= r.seconds_max < 5
        assert r.bus_gbps == 0.0  # one rank moves nothing


def test_a_wrong_result_names_the_rank(group_of_one, monkeypatch):
    real = dist.all_reduce

    def corrupting(tensor, *args, **kwargs):
        work = real(tensor, *args, **kwargs)
        tensor[0] += 1  # one element off, as a flaky link would leave it
        return work

    monkeypatch.setattr(collectives_check.dist, "all_reduce", corrupting)
    result = check_collective("all_reduce", 64, CPU, repeats=1)
    assert not result.ok and result.failed_ranks == (0,)


def test_soak_repeats_until_its_time_is_up(group_of_one):
    report = soak(CPU, 0.2, size_bytes=256)
    assert report.ok and report.iterations > 1 and 0.2 <= report.seconds < 5


def test_bad_arguments_are_refused(group_of_one):
    with pytest.raises(ValueError, match="unknown collective 'reduce_scatter'"):
        check_collective("reduce_scatter", 64, CPU)
    with pytest.raises(ValueError, match="size_bytes >= 4"):
        check_collective("broadcast", 2, CPU)


def test_pattern_sums_are_exact_in_float32():
    world = 64
    total = sum(pattern(1 << 12, r, CPU) for r in range(world))
    assert torch.equal(total, world * pattern(1 << 12, 0, CPU) + 256.0 * world * (world - 1) / 2)


def test_bus_bandwidth_follows_nccl_tests():
    # 1 GB in 1 s on 4 ranks: all_reduce 2(n-1)/n, all_gather (n-1)/n of the gathered 4 GB, broadcast 1.
    gb = 10**9
    assert bus_bandwidth_gbps("all_reduce", gb, 4, 1.0) == pytest.approx(1.5)
    assert bus_bandwidth_gbps("all_gather", gb, 4, 1.0) == pytest.approx(3.0)
    assert bus_bandwidth_gbps("broadcast", gb, 4, 2.0) == pytest.approx(0.5)

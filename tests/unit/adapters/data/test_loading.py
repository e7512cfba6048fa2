"""loader_options: "auto" is workers with pinned memory on CUDA and none on the CPU; an explicit
count wins on either; the options become the DataLoader's arguments."""

from __future__ import annotations

import pytest
import torch

from reidkit.adapters.data.loading import (
    AUTO_MAX_WORKERS,
    PREFETCH_FACTOR,
    LoaderOptions,
    loader_options,
    ranks_on_this_machine,
)


def test_auto_on_the_cpu_is_the_in_process_loader() -> None:
    assert loader_options("auto", torch.device("cpu"), cpus=16) == LoaderOptions()
    assert LoaderOptions().dataloader_kwargs() == {"num_workers": 0, "pin_memory": False}


@pytest.mark.parametrize(("cpus", "local_ranks", "workers"), [(64, 1, AUTO_MAX_WORKERS), (4, 1, 4), (16, 4, 4), (2, 8, 1)])
def test_auto_on_cuda_uses_this_ranks_share_of_the_cpus(cpus: int, local_ranks: int, workers: int) -> None:
    options = loader_options("auto", "cuda:1", cpus=cpus, local_ranks=local_ranks)
    assert options == LoaderOptions(
        num_workers=workers, pin_memory=True, persistent_workers=True, prefetch_factor=PREFETCH_FACTOR
    )
    assert options.dataloader_kwargs() == {
        "num_workers": workers, "pin_memory": True, "persistent_workers": True, "prefetch_factor": PREFETCH_FACTOR,
    }  # fmt: skip
    # a loader read once (feature extraction) does not keep its workers
    assert options.dataloader_kwargs(persistent=False)["persistent_workers"] is False


def test_an_explicit_count_wins_on_either_device() -> None:
    assert loader_options(0, "cuda") == LoaderOptions(pin_memory=True)
    cpu = loader_options(3, torch.device("cpu"))
    assert (cpu.num_workers, cpu.pin_memory, cpu.persistent_workers, cpu.prefetch_factor) == (3, False, True, PREFETCH_FACTOR)


@pytest.mark.parametrize("bad", [-1, "many", 1.5, True])
def test_anything_else_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="num_workers must be 'auto' or a count >= 0"):
        loader_options(bad, "cpu")  # type: ignore[arg-type]


def test_workers_options_need_workers() -> None:
    with pytest.raises(ValueError, match="need num_workers >= 1"):
        LoaderOptions(persistent_workers=True)


def test_ranks_on_this_machine_reads_torchruns_local_world_size() -> None:
    assert ranks_on_this_machine({}) == 1
    assert ranks_on_this_machine({"LOCAL_WORLD_SIZE": "4"}) == 4
    assert ranks_on_this_machine({"LOCAL_WORLD_SIZE": "x"}) == 1

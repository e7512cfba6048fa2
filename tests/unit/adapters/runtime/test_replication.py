"""Single-process replication is a no-op and SyncBN is refused where torch cannot run it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from reidkit.adapters.runtime.collectives import ProcessGroup
from reidkit.adapters.runtime.replication import LocalReplica, replicas_for, with_sync_batchnorm
from reidkit.domain.errors import ProfileError


def model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.BatchNorm1d(4 * 6 * 6))


def test_one_process_trains_the_model_itself_and_keeps_plain_batchnorm():
    group = ProcessGroup.single()
    net = model()
    assert isinstance(replicas_for(group), LocalReplica)
    assert replicas_for(group).wrap(net) is net
    assert with_sync_batchnorm(net, group) is net
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in net.modules())


def test_sync_bn_on_cpu_ranks_is_one_line_naming_the_setting():
    cpu_ranks = SimpleNamespace(distributed=True, device=torch.device("cpu"))
    with pytest.raises(ProfileError, match=r"^runtime.sync_bn needs CUDA devices .*set it false for a CPU run$"):
        with_sync_batchnorm(model(), cpu_ranks)


def test_world_size_without_a_process_group_is_refused():
    with pytest.raises(RuntimeError, match="no torch.distributed process group"):
        ProcessGroup(rank=0, world_size=2)

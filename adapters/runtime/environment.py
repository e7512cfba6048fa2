"""What the machine offers a run: versions, CUDA devices, faiss GPU support, CPU threads, backends.

Plain data (dicts of str/int/float/bool/list) so ``reidkit doctor`` can print it or write JSON.
"""

from __future__ import annotations

import os
import platform
import socket
from collections.abc import Mapping
from importlib import metadata
from typing import Any

import torch
import torch.distributed as dist

# Environment variables worth seeing when a distributed job misbehaves (the master endpoint is
# part of the launch).
_LAUNCH_PREFIXES = ("TORCH_NCCL_", "NCCL_", "GLOO_", "TORCH_DISTRIBUTED_")
_LAUNCH_NAMES = ("OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES")


def _distribution_version(name: str) -> str | None:
    """Read from the installed metadata: importing torchvision alone costs seconds of CPU."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def faiss_version() -> str | None:
    try:
        import faiss
    except ImportError:
        return None
    return getattr(faiss, "__version__", "unknown")


def cuda_devices() -> list[dict[str, Any]]:
    devices = []
    for index in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
        props = torch.cuda.get_device_properties(index)
        devices.append(
            {
                "index": index,
                "name": props.name,
                "memory_gib": round(props.total_memory / 2**30, 1),
                "capability": f"{props.major}.{props.minor}",
                "bf16": props.major >= 8,  # Ampere or newer runs bfloat16 natively
            }
        )
    return devices


def faiss_gpus() -> int | None:
    """GPUs faiss can use; 0 for a CPU-only faiss build; None without faiss."""
    try:
        import faiss
    except ImportError:
        return None
    return int(faiss.get_num_gpus()) if hasattr(faiss, "get_num_gpus") else 0


def nccl_version() -> str | None:
    if not (torch.cuda.is_available() and dist.is_available() and dist.is_nccl_available()):
        return None
    version = torch.cuda.nccl.version()
    return ".".join(map(str, version)) if isinstance(version, tuple) else str(version)


def describe_environment(env: Mapping[str, str]) -> dict[str, Any]:
    cuda = torch.cuda.is_available()
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    return {
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": _distribution_version("torchvision"),
        "faiss": faiss_version(),
        "faiss_gpus": faiss_gpus(),
        "cuda": {
            "available": cuda,
            "torch_built_with": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if cuda else None,
            "nccl": nccl_version(),
            "devices": cuda_devices(),
        },
        "cpu": {
            "cores": os.cpu_count(),
            "usable_cores": len(affinity),
            "torch_threads": torch.get_num_threads(),
            "capability": torch.backends.cpu.get_cpu_capability(),
        },
        "backends": {
            "gloo": dist.is_available() and dist.is_gloo_available(),
            "nccl": dist.is_available() and dist.is_nccl_available(),
        },
        "variables": {
            name: value
            for name, value in sorted(env.items())
            if name in _LAUNCH_NAMES or name.startswith(_LAUNCH_PREFIXES)
        },
    }


def describe_rank(rank: int, device: torch.device) -> dict[str, Any]:
    """What each rank reports about itself when the ranks compare notes."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine() or "cpu"
    return {"rank": rank, "host": socket.gethostname(), "pid": os.getpid(), "device": str(device), "device_name": name}

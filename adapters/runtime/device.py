"""Picking the compute device and the CPU thread count."""

from __future__ import annotations

import re

import torch

from reidkit.domain.errors import ReidkitError

_CUDA = re.compile(r"cuda(?::(\d+))?")


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Asking for CUDA on a machine without it is an error, not a silent CPU fallback: a run that
    was meant for a GPU would otherwise take days without saying why.
    """
    text = str(spec).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    match = _CUDA.fullmatch(text)
    if match is None:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {spec!r}")
    if not torch.cuda.is_available():
        raise ReidkitError(f"device {spec!r} asked for CUDA, but no CUDA device is available here")
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise ReidkitError(f"device {spec!r} does not exist: only {torch.cuda.device_count()} CUDA device(s)")
    return torch.device("cuda", index)


def configure_threads(n: int) -> None:
    """Sets torch's intra-op CPU threads (e.g. to the cores a job was given, not the host's);
    0 keeps torch's default."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"thread count must be an int >= 0 (0 = torch's default), got {n!r}")
    if n:
        torch.set_num_threads(n)

"""Deterministic seeds: one run seed, and independent seeds derived from it by name and number."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import torch

_MAX_SEED = 2**63 - 1


def derive_seed(seed: int, *parts: int | str) -> int:
    """A seed in [0, 2**63) that depends only on ``seed`` and ``parts`` (e.g. ``"sampler", 3``).

    SHA-256 of a typed, length-prefixed encoding rather than ``hash()`` (salted per process) or
    a bare SeedSequence (whose zero padding makes ``(s,)`` and ``(s, 0)`` collide).
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    digest = hashlib.sha256()
    for value in (seed, *parts):
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise TypeError(f"seed parts must be int or str, got {type(value).__name__} {value!r}")
        token = f"{'i' if isinstance(value, int) else 's'}{value}".encode()
        digest.update(len(token).to_bytes(8, "little") + token)
    return int.from_bytes(digest.digest()[:8], "little") & _MAX_SEED


def seed_everything(seed: int) -> None:
    """Seeds Python's ``random``, numpy's global generator and torch (CPU and every CUDA device)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= _MAX_SEED:
        raise ValueError(f"seed must be an int in [0, 2**63), got {seed!r}")
    random.seed(seed)
    # numpy's legacy global seed takes 32 bits; a derived value keeps high bits meaningful.
    np.random.seed(derive_seed(seed, "numpy") % 2**32)
    torch.manual_seed(seed)

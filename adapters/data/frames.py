"""Which frames of a tracklet a step or an evaluation sees (Torchreid's ``VideoDataset``).

``evenly``: a tracklet of n >= seq_len frames is cut to the largest multiple of seq_len and read
at a fixed stride (n // seq_len) from its first frame; a shorter one is read whole and padded
with its last frame. ``random``: seq_len frames drawn without replacement (with replacement only
when the tracklet is shorter), then sorted into temporal order. ``all``: every frame.

Torch-free: ``random`` takes the draw from its caller (the training dataset draws from torch, so
that the batch source's per-epoch and per-sample seeding covers it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from attrs import field, frozen, validators

SAMPLES = ("evenly", "random", "all")


def evenly(length: int, seq_len: int) -> list[int]:
    """Torchreid's ``evenly`` indices of a tracklet of ``length`` frames."""
    _check(length, seq_len)
    if length >= seq_len:
        usable = length - length % seq_len
        return list(range(0, usable, usable // seq_len))
    return list(range(length)) + [length - 1] * (seq_len - length)


def at_random(length: int, seq_len: int, draw: Callable[[int, int, bool], Sequence[int]]) -> list[int]:
    """``seq_len`` indices from ``draw(length, seq_len, replace)``, with replacement only when the
    tracklet is shorter than ``seq_len``, sorted (temporal order kept, as Torchreid sorts)."""
    _check(length, seq_len)
    return sorted(int(i) for i in draw(length, seq_len, length < seq_len))


def _check(length: int, seq_len: int) -> None:
    if length < 1 or seq_len < 1:
        raise ValueError(f"a tracklet of {length} frames cannot give {seq_len}")


@frozen(kw_only=True)
class FrameSampling:
    """How many frames of each tracklet (``seq_len``) and which (``sample``: evenly, random, all)."""

    seq_len: int = field(default=15, validator=[validators.instance_of(int), validators.ge(1)])
    sample: str = field(default="evenly", validator=validators.in_(SAMPLES))

    def indices(self, length: int, draw: Callable[[int, int, bool], Sequence[int]] | None = None) -> list[int]:
        """The frame indices of a tracklet of ``length`` frames; ``random`` needs ``draw``."""
        if self.sample == "all":
            _check(length, 1)
            return list(range(length))
        if self.sample == "evenly":
            return evenly(length, self.seq_len)
        if draw is None:
            raise ValueError("random frame sampling needs a draw")
        return at_random(length, self.seq_len, draw)

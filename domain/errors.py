"""Errors that carry a one-line, user-facing message naming the culprit.

``exit_code`` is what the ``reidkit`` command exits with when one ends a run (docs/bad_input.md
lists every code). ``rank_specific`` says whether the error can differ between the ranks of a
torchrun job: bad input is the same on every rank (rank 0 alone prints it), a failed launch or
rendezvous is not (every rank prints its own).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import ClassVar, SupportsFloat

_ODD = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def one_line(text: str) -> str:
    """``text`` (typically a file name) fit for a one-line message: newlines, tabs and other control
    characters become backslash escapes (``\\n``, ``\\t``, ``\\x1b``), and so does each byte of
    a name that is not valid UTF-8 (Python reads those as lone surrogates: ``\\xff``). Text
    without them comes back unchanged."""
    return _ODD.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape's stand-in for an undecodable byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class ReidkitError(Exception):
    """Base of every error reidkit reports to a user as one line (exit code 2 at the CLI)."""

    exit_code: ClassVar[int] = 2
    rank_specific: ClassVar[bool] = False


class DatasetError(ReidkitError):
    """A dataset folder, file name or split is unusable."""


class ImageLoadError(ReidkitError):
    """An image file cannot be decoded."""


class CheckpointError(ReidkitError):
    """A checkpoint is missing, corrupt or not one of ours."""


class ProfileError(ReidkitError):
    """A profile is invalid; the message lists every problem with its path, one per line."""


class PseudoLabelError(ReidkitError):
    """This epoch's pseudo labels cannot feed training (too few clusters for the batch shape...)."""


class EvaluationError(ReidkitError, ValueError):
    """A query/gallery pair cannot be scored (e.g. no query has a match under another camera).
    A ValueError too, as the ranking's argument checks are."""


class DivergenceError(ReidkitError):
    """Training produced a non-finite loss (more often than ``train.max_bad_steps`` allows).

    Raised before the epoch's checkpoint is written, so the latest checkpoint stays the last one
    trained with finite losses. ``epoch`` and ``step`` are 0-based; the message counts from 1.
    ``losses`` are the step's losses that are not finite on this process (empty when only another
    rank's were)."""

    exit_code: ClassVar[int] = 3

    def __init__(
        self,
        *,
        epoch: int,
        step: int,
        steps_per_epoch: int,
        losses: Mapping[str, SupportsFloat],
        bad_steps: int = 1,
        allowed: int = 0,
        epochs_saved: int = 0,
    ) -> None:
        self.epoch, self.step, self.steps_per_epoch = epoch, step, steps_per_epoch
        self.losses = {name: float(value) for name, value in losses.items() if not math.isfinite(float(value))}
        self.bad_steps, self.allowed, self.epochs_saved = bad_steps, allowed, epochs_saved
        super().__init__(self._message())

    def _message(self) -> str:
        where = f"epoch {self.epoch + 1}, step {self.step + 1} of {self.steps_per_epoch}"
        if self.losses:
            what = "non-finite loss (" + ", ".join(f"{name}={value}" for name, value in self.losses.items()) + ")"
        else:
            what = "a non-finite loss on another rank"
        if self.allowed:
            what += f" after {self.bad_steps - 1} skipped step(s) (train.max_bad_steps = {self.allowed})"
        kept = (
            f"the latest checkpoint (epoch {self.epochs_saved}) is kept, the last with finite losses"
            if self.epochs_saved
            else "no checkpoint was written"
        )
        return (
            f"training diverged at {where}: {what}; {kept}; lower optimizer.lr in a new --work-dir "
            "(a resumed run keeps its schedule), or let train.max_bad_steps skip such steps"
        )

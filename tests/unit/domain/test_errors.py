"""The one-line messages of the domain's errors."""

from __future__ import annotations

import os

import pytest

from reidkit.domain.errors import one_line


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("0001_c1s1_000001_00.jpg", "0001_c1s1_000001_00.jpg"),
        ("a\nb\tc\rd", "a\\nb\\tc\\rd"),
        ("bell\x07 esc\x1b del\x7f", "bell\\x07 esc\\x1b del\\x7f"),
        (os.fsdecode(b"caf\xe9_\xff.jpg"), "caf\\xe9_\\xff.jpg"),  # bytes that are not UTF-8
        ("café_人.jpg", "café_人.jpg"),  # valid UTF-8 is kept as it is
    ],
)
def test_one_line_escapes_what_would_break_a_line_or_an_encoding(raw, shown):
    assert one_line(raw) == shown
    assert one_line(raw).encode("utf-8")  # always encodable

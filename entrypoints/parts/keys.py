"""Selector keys derived from settings (light: the torch-free clustering container uses them)."""

from __future__ import annotations


def switch(enabled: bool) -> str:
    """The key of a Selector on a boolean setting: "on" or "off"."""
    return "on" if enabled else "off"


def source_mode(source_domain: str) -> str:
    """"labelled" when a labelled source domain trains alongside the target, else "none"."""
    return "labelled" if source_domain else "none"

"""The sub-containers every method composes (see docs/architecture.md)."""

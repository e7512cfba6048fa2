"""Tests of the method modules (entrypoints/methods)."""

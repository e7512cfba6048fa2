"""Tests of the subcommands (entrypoints/commands)."""

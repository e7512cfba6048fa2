"""Composition root: settings, containers and the command line."""

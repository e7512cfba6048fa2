"""data tests."""

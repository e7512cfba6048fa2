"""dataset reader tests."""

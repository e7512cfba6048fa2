"""domain tests."""

"""parity tests."""

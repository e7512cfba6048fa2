"""losses adapters."""

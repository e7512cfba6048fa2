"""steps adapters."""

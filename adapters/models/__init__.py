"""models adapters."""

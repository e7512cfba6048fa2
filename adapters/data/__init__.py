"""data adapters."""

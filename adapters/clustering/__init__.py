"""clustering adapters."""

"""runtime adapters."""

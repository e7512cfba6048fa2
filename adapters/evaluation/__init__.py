"""evaluation adapters."""

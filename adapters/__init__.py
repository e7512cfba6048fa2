"""Adapters: torch, torchvision, faiss, PIL and structlog implementations of the domain ports."""

"""translation adapters: CycleGAN / SPGAN networks, losses, image pool."""

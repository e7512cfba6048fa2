"""Memory banks for unsupervised re-ID: cluster centroids (Cluster Contrast) and SpCL's hybrid memory."""

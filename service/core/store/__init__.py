"""The reference store: the interface every backend implements, and the backends."""

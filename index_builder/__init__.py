"""Offline side of Nigran: build index artifacts and bulk-screen archives."""

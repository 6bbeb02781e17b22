"""Offline side of Nigran: build index artifacts and bulk-screen archives."""

# Imported first for its side effect: the thread settings in service/__init__
# must be in the environment before numpy or torch load.
import service as _service  # noqa: F401

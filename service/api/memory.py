"""Handing freed heap back to the operating system, on a timer.

glibc keeps memory that Python, torch and FAISS have freed in its arenas
rather than returning it, so RSS rises and falls with the work and keeps
whatever peak the allocator happened to leave fragmented. Measured in one
process over 5 minutes of matching, and of adds and removes, with the real
model (no gRPC): RSS without a trim crept from about 1,430 to 1,480 MB while
the heap after each trim stayed within 1,270-1,290 MB, and one trim handed
back about 190 MB in about 20 ms. Once a minute that costs nothing worth
measuring. It does not make the server's RSS flat under every load: see
``bench/bench_soak.py`` and the README for what the soak measured
(``bench/bench_heap.py`` is the in-process probe). Where there is no glibc
(musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from typing import Callable

log = logging.getLogger("nigran.memory")


def _glibc_trim() -> Callable[[], object] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


class HeapTrimmer:
    """A daemon thread that calls ``malloc_trim(0)`` every ``seconds`` until stopped."""

    def __init__(self, seconds: float, trim: Callable[[], object] | None = None) -> None:
        self.seconds = seconds
        self.trims = 0
        self._trim = trim if trim is not None else _glibc_trim()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def available(self) -> bool:
        return self._trim is not None

    def start(self) -> "HeapTrimmer":
        if self.seconds <= 0 or self._trim is None:
            if self.seconds > 0:
                log.info("no malloc_trim on this platform: freed heap is left to the allocator")
            return self
        self._thread = threading.Thread(target=self._run, name="nigran-heap-trim", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        assert self._trim is not None
        while not self._stop.wait(self.seconds):
            self._trim()
            self.trims += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

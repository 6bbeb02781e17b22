"""Handing freed heap back to the operating system, on a timer.

glibc keeps memory that Python, torch and FAISS have freed in its arenas
rather than returning it, so a long-running server's RSS creeps up although
nothing leaks: in a 30-minute soak the heap after ``malloc_trim`` stayed flat
while RSS without it grew about 115 MB/h (``bench/bench_soak.py``). One trim
of the server's heap takes about 20 ms, so once a minute costs nothing worth
measuring. Where there is no glibc (musl, macOS) this does nothing.
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

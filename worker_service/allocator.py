"""Fewer glibc malloc arenas for the worker process.

glibc gives threads their own heap arenas (up to 8 per core), and libvips' threads allocate and
free large pixel buffers in all of them, so freed memory fragments across arenas and resident
memory creeps up with every job. Two arenas hold it flat at a small cost in lock contention
(the figures are in docs/benchmarks.md). This is what `MALLOC_ARENA_MAX=2` does, applied from
inside the process so that it holds however the worker is started; an operator's own
MALLOC_ARENA_MAX wins.
"""

import ctypes
import ctypes.util
import logging
import os

logger = logging.getLogger(__name__)

WORKER_ARENAS = 2
_M_ARENA_MAX = -8  # from glibc's malloc.h


def limit_malloc_arenas(arenas: int = WORKER_ARENAS) -> bool:
    """Cap glibc's arenas at `arenas`; False where that is not possible (musl, macOS)."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        return bool(libc.mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError, TypeError):
        logger.info("not glibc: malloc arenas left as they are")
        return False

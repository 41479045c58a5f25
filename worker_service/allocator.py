"""glibc malloc tuned for libvips in the worker process.

Two things make a libvips worker's resident memory creep up job after job under glibc:
- glibc gives threads their own heap arenas (up to 8 per core), and libvips' threads free large
  pixel buffers in all of them, so free memory fragments across arenas;
- glibc's mmap threshold is dynamic: once a large block is freed, blocks up to its size come
  from the heap instead of fresh mappings, and a freed one is only returned to the system when
  nothing allocated after it sits above it, which in a long-lived process is rarely.

Measured over 800 corpus jobs on 4 threads (docs/benchmarks.md): glibc's defaults grew
529 -> 748 MiB, two arenas 213 -> 267 MiB, two arenas and a fixed 256 KiB threshold held
175 -> 177 MiB, at the same speed. This does what `MALLOC_ARENA_MAX=2` and
`MALLOC_MMAP_THRESHOLD_=262144` do, from inside the process so that it holds however the worker
is started; an operator's own variables win.
"""

import ctypes
import ctypes.util
import logging
import os

logger = logging.getLogger(__name__)

WORKER_ARENAS = 2
# Pixel buffers and libvips' region buffers are larger than this; glibc's own default start.
MMAP_THRESHOLD_BYTES = 256 * 1024
# mallopt parameters, from glibc's malloc.h.
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_TUNING = {
    "MALLOC_ARENA_MAX": (_M_ARENA_MAX, WORKER_ARENAS),
    "MALLOC_MMAP_THRESHOLD_": (_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
}


def tune_malloc() -> list[str]:
    """Apply the worker's malloc settings; the names of those applied, none where that is not
    possible (musl, macOS) or where the operator set the variable."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        logger.info("not glibc: malloc left as it is")
        return []
    return [
        name
        for name, (parameter, value) in _TUNING.items()
        if name not in os.environ and mallopt(parameter, value)
    ]

"""libvips' own count of what it holds (pixel buffers, open files), read at each scrape.

pyvips does not declare libvips' `vips_tracked_*` functions (its compiled binding knows only
what it declares), so they are called through ctypes on the libvips this process already
loaded: opening a loaded library again returns that same library, with the same counters.
"""

import ctypes
import ctypes.util
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pyvips  # noqa: F401 - loads libvips, so it can be found among the mapped files
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# libvips.so.42, or pyvips-binary's libvips-e42572c0.so.42
LIBVIPS_FILE = re.compile(r"/libvips(-[0-9a-f]+)?\.so[.\d]*$")
TRACKED = {
    "vips_tracked_get_mem": (
        "libvips_tracked_memory_bytes",
        "Memory libvips holds now (pixel buffers and the like).",
    ),
    "vips_tracked_get_mem_highwater": (
        "libvips_tracked_memory_highwater_bytes",
        "The most memory libvips has held at once since the process started.",
    ),
    "vips_tracked_get_allocs": (
        "libvips_tracked_allocations",
        "Blocks of memory libvips holds now.",
    ),
    "vips_tracked_get_files": ("libvips_open_files", "Files libvips holds open now."),
}


class LibvipsMemory(Collector):
    def __init__(self, library: ctypes.CDLL) -> None:
        self._functions: dict[tuple[str, str], Callable[[], int]] = {}
        for function, metric in TRACKED.items():
            call = getattr(library, function)
            call.restype = ctypes.c_size_t
            call.argtypes = []
            self._functions[metric] = call

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for (name, documentation), call in self._functions.items():
            yield GaugeMetricFamily(name, documentation, value=call())


def watch_libvips_memory(registry: CollectorRegistry) -> None:
    """Add libvips' memory to `registry`, if this process's libvips can be found."""
    path = _loaded_libvips() or ctypes.util.find_library("vips")
    if path is None:
        logger.warning("libvips not found by path: its memory is left out of the metrics")
        return
    registry.register(LibvipsMemory(ctypes.CDLL(path)))


def _loaded_libvips() -> str | None:
    """The path of the libvips mapped into this process (Linux)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for line in maps.splitlines():
        path = line.split(maxsplit=5)[-1]
        if LIBVIPS_FILE.search(path):
            return path
    return None

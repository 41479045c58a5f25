"""The worker's malloc tuning: large buffers go back to the system when freed, whatever was
allocated after them, and an operator's own variables win."""

import json
import subprocess
import sys

import pytest

from tests.support import ROOT
from worker_service.allocator import tune_malloc

# In a fresh process (the tuning must precede any allocation): free one large block, as a first
# image does, then allocate large buffers each followed by a small object that outlives them,
# as libvips does, free the large ones and report how much resident memory went back.
_FRAGMENT = """
import ctypes, json, sys
from worker_service.allocator import tune_malloc
applied = tune_malloc() if sys.argv[1] == "tuned" else []
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
def touched(size):
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    return block
libc.free(touched(8 << 20))
large, small = [], []
for _ in range(32):
    large.append(touched(4 << 20))
    small.append(touched(100 << 10))
before = rss_mib()
for block in large:
    libc.free(block)
print(json.dumps({"applied": applied, "released_mib": before - rss_mib()}))
"""


def fragment(mode: str, env: dict[str, str] | None = None) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", _FRAGMENT, mode],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, object] = json.loads(result.stdout)
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_pixel_buffers_go_back_to_the_system() -> None:
    tuned = fragment("tuned")
    assert tuned["applied"] == ["MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_"]
    assert float(str(tuned["released_mib"])) > 100  # of the 128 MiB freed


def test_an_operators_malloc_variables_are_left_to_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert tune_malloc() == []

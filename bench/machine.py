"""The machine line of the report: cores, CPU model, Python and libvips versions, load."""

import os
import platform
from pathlib import Path

import pyvips


def machine_line() -> str:
    libvips = ".".join(str(pyvips.version(part)) for part in range(3))
    return (
        f"{os.cpu_count()} cores, {_cpu_model()}, Python {platform.python_version()}, "
        f"libvips {libvips} ({pyvips.concurrency_get()} threads per image), "
        # Other work on a shared machine moves every wall-clock figure.
        f"load average {os.getloadavg()[0]:.1f} at the start"
    )


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or "unknown CPU"
    models = (line.partition(":")[2].strip() for line in lines if line.startswith("model name"))
    return next(models, platform.processor() or "unknown CPU")

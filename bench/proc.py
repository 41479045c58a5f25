"""What /proc says of one of the service's processes: its memory and the CPU time it used."""

import os
from pathlib import Path

from bench.errors import BenchError

_TICKS = os.sysconf("SC_CLK_TCK")


def status_mib(pid: int, field: str) -> float:
    """A `kB` field of /proc/<pid>/status (VmRSS, VmHWM), in MiB."""
    for line in _read(pid, "status").splitlines():
        name, _, value = line.partition(":")
        if name == field:
            return int(value.split()[0]) / 1024
    raise BenchError(f"/proc/{pid}/status has no {field}")


def reset_peak(pid: int) -> None:
    """Start VmHWM again from the current RSS (Linux: `5` to /proc/<pid>/clear_refs)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError as exc:
        raise BenchError(f"cannot reset the peak RSS of process {pid}: {exc}") from exc


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of the process (all its threads) so far."""
    # The fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    fields = _read(pid, "stat").rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


class CpuMeter:
    """The CPU time a process uses from now on."""

    def __init__(self, name: str, pid: int) -> None:
        self.name = name
        self._pid = pid
        self._start = cpu_seconds(pid)

    def seconds(self) -> float:
        return cpu_seconds(self._pid) - self._start


def _read(pid: int, name: str) -> str:
    try:
        return Path(f"/proc/{pid}/{name}").read_text()
    except OSError as exc:
        raise BenchError(f"cannot read /proc/{pid}/{name}: {exc}") from exc

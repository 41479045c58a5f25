"""The worker's memory, read from /proc: its RSS after a quarter of the jobs and after all of
them (growth between the two is what a leak would show), and its peak over the whole run."""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.client import ServiceClient
from bench.corpus import Photo
from bench.errors import BenchError
from bench.workloads import corpus_uploads


@dataclass(frozen=True)
class Memory:
    checkpoint: int
    jobs: int
    # MiB
    rss_at_checkpoint: float
    rss_at_end: float
    peak: float


async def measure_memory(
    client: ServiceClient, pid: int, photos: Sequence[Photo], jobs: int, submitters: int
) -> Memory:
    """`jobs` corpus jobs, cycling through the photos, in two batches; RSS read after each."""
    checkpoint = max(1, round(jobs / 4))
    uploads = corpus_uploads(photos, jobs)
    readings = []
    for batch in (uploads[:checkpoint], uploads[checkpoint:]):
        await client.wait_succeeded(await client.submit_all(batch, submitters))
        readings.append(status_mib(pid, "VmRSS"))
    return Memory(checkpoint, jobs, readings[0], readings[1], status_mib(pid, "VmHWM"))


def status_mib(pid: int, field: str) -> float:
    """A `kB` field of /proc/<pid>/status (VmRSS, VmHWM), in MiB."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError as exc:
        raise BenchError(f"cannot read the worker's memory: {exc}") from exc
    for line in lines:
        name, _, value = line.partition(":")
        if name == field:
            return int(value.split()[0]) / 1024
    raise BenchError(f"/proc/{pid}/status has no {field}")

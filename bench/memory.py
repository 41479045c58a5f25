"""The worker's memory, read from /proc: its RSS after a quarter of the jobs and after all of
them (growth between the two is what a leak would show), and its peak over the whole run."""

from collections.abc import Sequence
from dataclasses import dataclass

from bench.client import ServiceClient
from bench.corpus import Photo
from bench.proc import status_mib
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

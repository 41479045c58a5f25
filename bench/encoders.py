"""What each encoder holds: one large output per format, made from a 64x64 PNG (so the decode
costs nothing), alone on the worker, with its peak RSS (VmHWM, reset before each) read once the
job has ended; then two of each whole-frame encoder submitted together, which the worker's
memory budget must keep from running beside each other beyond `WORKER_MEMORY_MB`. A job over
the whole budget is refused, so the section raises the budget to its costliest job when the
settings give less: every encoder is then measured, and the budget still bounds them together.

Beside each figure, what the worker reserves for the job (`shared.job_memory.job_bytes`),
and the peak above the RSS before the job in bytes an output pixel: the figure its cost model
is calibrated on.
"""

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyvips

from bench.client import ServiceClient, Upload
from bench.proc import reset_peak, status_mib
from bench.workloads import variants_json
from shared.images import read_header
from shared.job_memory import MIB, job_bytes
from shared.variants import OutputFormat, Variant

SOURCE_SIDE = 64
# Whole-frame encoders first: the costliest.
FORMATS = (OutputFormat.AVIF, OutputFormat.WEBP, OutputFormat.JPEG, OutputFormat.PNG)
TOGETHER = (OutputFormat.AVIF, OutputFormat.WEBP)


@dataclass(frozen=True)
class Encoded:
    format: OutputFormat
    side: int
    # "succeeded", or "failed: <error code>"
    outcome: str
    reserved_mib: float
    rss_before_mib: float
    peak_mib: float

    @property
    def bytes_per_pixel(self) -> float:
        return (self.peak_mib - self.rss_before_mib) * MIB / self.side**2


def source_png() -> bytes:
    """A SOURCE_SIDE-pixel square PNG with some detail (a gradient and noise)."""
    xy = pyvips.Image.xyz(SOURCE_SIDE, SOURCE_SIDE)
    noise = pyvips.Image.gaussnoise(SOURCE_SIDE, SOURCE_SIDE, sigma=40, mean=128, seed=7)
    rgb = (xy[0] * 4).bandjoin([xy[1] * 4, noise]).cast("uchar")
    return bytes(rgb.copy(interpretation="srgb").pngsave_buffer())


def large(fmt: OutputFormat, side: int) -> Variant:
    return Variant(name="large", width=side, height=side, format=fmt, upscale=True)


def side_for(pixels: int) -> int:
    """The largest square of at most `pixels` (MAX_OUTPUT_PIXELS counts every pixel)."""
    return math.isqrt(pixels)


def reserved_mib(source: bytes, variant: Variant) -> float:
    """What the worker reserves for this job, from the same header it reads."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "source.png"
        path.write_bytes(source)
        return job_bytes(read_header(path), [variant]) / MIB


def costliest_mib(side: int) -> int:
    """The largest reservation of the jobs measured here: the budget they all run in."""
    source = source_png()
    return math.ceil(max(reserved_mib(source, large(fmt, side)) for fmt in FORMATS))


async def each_alone(client: ServiceClient, pid: int, side: int) -> list[Encoded]:
    """One job per format, each alone on the worker."""
    source = source_png()
    results = []
    for fmt in FORMATS:
        variant = large(fmt, side)
        reset_peak(pid)
        before = status_mib(pid, "VmRSS")
        job = await client.finished(await client.submit(_upload(source, variant)))
        outcome = str(job["status"])
        if job["error"] is not None:
            outcome += f": {job['error']['code']}"
        peak = status_mib(pid, "VmHWM")
        results.append(Encoded(fmt, side, outcome, reserved_mib(source, variant), before, peak))
    return results


async def together(client: ServiceClient, pid: int, side: int, copies: int) -> float:
    """`copies` jobs of each whole-frame encoder submitted at once; the peak RSS (MiB)."""
    source = source_png()
    reset_peak(pid)
    uploads = [_upload(source, large(fmt, side)) for fmt in TOGETHER for _ in range(copies)]
    ids = await client.submit_all(uploads, len(uploads))
    for job_id in ids:
        await client.finished(job_id)
    return status_mib(pid, "VmHWM")


def _upload(source: bytes, variant: Variant) -> Upload:
    return Upload("source.png", source, variants_json([variant]))

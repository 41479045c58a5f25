"""What one process does with no broker, HTTP or store: the corpus jobs on a thread pool,
through the plain libvips loop people write (one decode per variant) and through the worker's
own render code. Each thread takes the next photo, as the worker's executor takes the next job.
"""

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pillow_heif
import pyvips

from bench.corpus import Photo
from bench.throughput import Rate
from bench.workloads import JOB_VARIANTS
from shared.images import Limits
from shared.variants import Fit, Variant
from worker_service.render import render_job


def run_loop(
    job: Callable[[Photo], object], photos: Sequence[Photo], passes: int, threads: int
) -> Rate:
    """Time `passes` runs over the photos, after one warm-up job."""
    job(photos[0])  # libvips loads its codecs and starts its own threads once
    work = [photo for _ in range(passes) for photo in photos]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bench") as pool:
        started = time.perf_counter()
        for _ in pool.map(job, work):
            pass
        seconds = time.perf_counter() - started
    return Rate(len(work), seconds)


def naive_job(photo: Photo) -> None:
    """Every variant from the bytes, each with a decode of its own."""
    for variant in JOB_VARIANTS:
        image = _naive_thumbnail(photo, variant)
        image.write_to_buffer(f".{variant.format.extension}[Q={variant.quality}]")


def own_job(photo: Photo, limits: Limits) -> None:
    """The worker's code for one job, from the file as the worker reads it."""
    render_job(photo.path, JOB_VARIANTS, limits)


def _naive_thumbnail(photo: Photo, variant: Variant) -> Any:
    options: dict[str, Any] = {"height": variant.height, "size": "down"}
    if variant.fit is Fit.COVER:
        options["crop"] = variant.crop.value
    if photo.hevc:
        return _decode_hevc(photo.data).thumbnail_image(variant.width, **options)
    return pyvips.Image.thumbnail_buffer(photo.data, variant.width, **options)


def _decode_hevc(data: bytes) -> Any:
    """What users of this libvips (no HEVC decoder) must do for phone HEIC: decode with libheif."""
    picture = pillow_heif.open_heif(data, convert_hdr_to_8bit=True).to_pillow()
    return pyvips.Image.new_from_memory(
        picture.tobytes(), picture.width, picture.height, len(picture.getbands()), "uchar"
    )

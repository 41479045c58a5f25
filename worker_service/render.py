"""A job's variants from one decode: plain blocking functions, run in the executor's threads.

The source is decoded once, at the size its largest variant needs (see `decode`); every variant
is resized from that image in memory and encoded with no metadata at all. Output sizes come
from `geometry`, computed on the source's own size, so they do not depend on the decode size.

With a tracer, the decode and each variant get a span of their own, children of the span
current in the calling thread (the attempt's: the executor runs the work in its context).
"""

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyvips
from opentelemetry.trace import NoOpTracer, Tracer

from shared.geometry import Size, decode_size, output_size, resized_size
from shared.images import ImageHeader, Limits, restrict_libvips
from shared.schemas import ErrorCode, Placeholder
from shared.variants import Fit, OutputFormat, Variant
from worker_service.cancel import RenderCancelled, stop_when_set
from worker_service.decode import decode, inspect_source
from worker_service.errors import PermanentFailure
from worker_service.heif import HeifDecodeError
from worker_service.placeholder import placeholder_of

logger = logging.getLogger(__name__)

NO_TRACER = NoOpTracer()

# What a client reads of an image libvips could not decode (its own words stay in the logs).
UNDECODABLE = "The image could not be decoded: it is truncated, corrupt or not what it claims."


@dataclass(frozen=True)
class Rendered:
    variant: Variant
    data: bytes
    width: int
    height: int
    # Resizing and encoding it took this long (the decode it shares with the others apart).
    seconds: float


@dataclass(frozen=True)
class RenderedJob:
    source: ImageHeader
    outputs: list[Rendered]
    placeholder: Placeholder


def prepare_libvips() -> None:
    """Process-wide libvips settings for rendering, set before the first job: only the
    loaders of the formats the service reads (`restrict_libvips`), and no operation cache.

    The operation cache goes: every job reads a different file, so it would only hold memory,
    and it would hand a later job an image still carrying an earlier job's cancel handler,
    whose Python side is gone by then (libvips calling it aborts the process).
    """
    pyvips.cache_set_max(0)
    restrict_libvips()


def render_job(
    path: Path,
    variants: Sequence[Variant],
    limits: Limits,
    cancel: threading.Event | None = None,
) -> RenderedJob:
    """Every variant of the image at `path`, encoded; `cancel` stops libvips mid-work."""
    return render(path, inspect_source(path, variants, limits), variants, cancel)


def render(
    path: Path,
    source: ImageHeader,
    variants: Sequence[Variant],
    cancel: threading.Event | None = None,
    tracer: Tracer = NO_TRACER,
) -> RenderedJob:
    """`render_job` for a source whose header was already read and checked."""
    size = Size(source.width, source.height)
    try:
        with tracer.start_as_current_span(
            "resize.decode",
            attributes={
                "image.format": str(source.format),
                "image.width": source.width,
                "image.height": source.height,
            },
        ):
            base = decode(path, source, decode_size(list(variants), size), cancel)
        outputs = []
        for variant in variants:
            if cancel is not None and cancel.is_set():
                raise RenderCancelled
            with tracer.start_as_current_span(
                "resize.variant",
                attributes={"variant.name": variant.name, "variant.format": str(variant.format)},
            ) as span:
                rendered = render_variant(base, variant, size, cancel)
                span.set_attributes(
                    {
                        "variant.width": rendered.width,
                        "variant.height": rendered.height,
                        "variant.bytes": len(rendered.data),
                    }
                )
            outputs.append(rendered)
        placeholder = placeholder_of(base)
    except (pyvips.Error, HeifDecodeError) as exc:
        if cancel is not None and cancel.is_set():
            raise RenderCancelled from exc
        # The decoder's own words can name the file's path on this server: logs only.
        logger.info("could not decode the source: %s", _first_line(exc))
        raise PermanentFailure(ErrorCode.UNDECODABLE_IMAGE, UNDECODABLE) from exc
    return RenderedJob(source, outputs, placeholder)


def render_variant(
    base: Any, variant: Variant, source: Size, cancel: threading.Event | None = None
) -> Rendered:
    """`variant` made from `base`, the decoded source (any size up to the source's)."""
    started = time.perf_counter()
    out = output_size(variant, source)
    resized = resized_size(variant, source)
    if variant.fit is Fit.COVER and out != resized:
        image = base.thumbnail_image(resized.width, height=resized.height, size="force")
        image = image.smartcrop(out.width, out.height, interesting=variant.crop.value)
    else:
        image = base.thumbnail_image(out.width, height=out.height, size="force")
    if variant.format is OutputFormat.JPEG and image.hasalpha():
        image = image.flatten(background=[255] * (image.bands - 1))
    if cancel is not None:
        stop_when_set(image, cancel)
    data = image.write_to_buffer(f".{variant.format.extension}", **save_options(variant))
    seconds = time.perf_counter() - started
    return Rendered(variant, data, int(image.width), int(image.height), seconds)


def save_options(variant: Variant) -> dict[str, Any]:
    """Encoder settings per format; `keep="none"` drops EXIF, XMP, IPTC, GPS and ICC."""
    match variant.format:
        case OutputFormat.JPEG:
            return {"Q": variant.quality, "optimize_coding": True, "keep": "none"}
        case OutputFormat.PNG:
            return {"compression": 6, "keep": "none"}
        case OutputFormat.WEBP:
            return {"Q": variant.quality, "effort": 4, "keep": "none"}
        case OutputFormat.AVIF:
            return {"Q": variant.quality, "compression": "av1", "effort": 2, "keep": "none"}


def _first_line(error: Any) -> str:
    detail = str(getattr(error, "detail", "") or error).strip().splitlines()
    return detail[0] if detail else "unknown error"

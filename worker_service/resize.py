"""Resizing with libvips: plain blocking functions, run in the executor's threads.

Each variant is made by `thumbnail` straight from the file, so JPEG, WebP and HEIF sources are
shrunk while they are decoded instead of being decoded at full size first. Outputs are
auto-rotated from EXIF orientation, converted to sRGB and saved with no metadata at all.
"""

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyvips

from shared.messages import ErrorCode
from shared.schemas import Fit, OutputFormat, Variant
from worker_service.errors import PermanentFailure

# libvips' "no limit" for the side of the box that a variant leaves open.
UNBOUNDED = 10_000_000
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}

_SAVE_SUFFIX = {
    OutputFormat.JPEG: ".jpg",
    OutputFormat.PNG: ".png",
    OutputFormat.WEBP: ".webp",
    OutputFormat.AVIF: ".avif",
}


class RenderCancelled(Exception):
    """libvips stopped because the attempt's `cancel` event was set."""


@dataclass(frozen=True)
class Rendered:
    data: bytes
    width: int
    height: int


@dataclass(frozen=True)
class SourceInfo:
    width: int
    height: int


def inspect_source(path: Path, max_pixels: int) -> SourceInfo:
    """Read the header only; refuse a file libvips cannot open or one with too many pixels."""
    try:
        image = pyvips.Image.new_from_file(str(path))
        orientation = image.get("orientation") if image.get_typeof("orientation") else 1
    except pyvips.Error as exc:
        raise PermanentFailure(ErrorCode.UNDECODABLE_IMAGE, _vips_reason(exc)) from exc
    width, height = int(image.width), int(image.height)
    if width * height > max_pixels:
        raise PermanentFailure(
            ErrorCode.TOO_MANY_PIXELS,
            f"The image has {width * height} pixels; the limit is {max_pixels}.",
        )
    if orientation in _SWAPPING_ORIENTATIONS:
        width, height = height, width
    return SourceInfo(width, height)


def thumbnail_options(variant: Variant, source: SourceInfo) -> tuple[int, dict[str, Any]]:
    """The `thumbnail` width and options that give `variant` from a source of that size."""
    width = variant.width or UNBOUNDED
    height = variant.height or UNBOUNDED
    options: dict[str, Any] = {"height": height, "size": "both" if variant.upscale else "down"}
    both_sides = variant.width is not None and variant.height is not None
    if variant.fit is Fit.COVER and both_sides:
        options["crop"] = variant.crop.value
    elif variant.fit is Fit.FILL and both_sides:
        if not variant.upscale:
            width, height = min(width, source.width), min(height, source.height)
        options.update(height=height, size="force")
    return width, options


def render_variant(
    path: Path, variant: Variant, source: SourceInfo, cancel: threading.Event | None = None
) -> Rendered:
    """One variant of the image at `path`, encoded; `cancel` stops libvips mid-work."""
    width, options = thumbnail_options(variant, source)
    try:
        image = pyvips.Image.thumbnail(
            str(path), width, output_profile="srgb", fail_on="error", **options
        )
        if variant.format is OutputFormat.JPEG and image.hasalpha():
            image = image.flatten(background=[255, 255, 255])
        if cancel is not None:
            _stop_when_set(image, cancel)
        data = image.write_to_buffer(_SAVE_SUFFIX[variant.format], **save_options(variant))
    except pyvips.Error as exc:
        if cancel is not None and cancel.is_set():
            raise RenderCancelled from exc
        raise PermanentFailure(ErrorCode.UNDECODABLE_IMAGE, _vips_reason(exc)) from exc
    return Rendered(data, int(image.width), int(image.height))


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


def _stop_when_set(image: Any, cancel: threading.Event) -> None:
    """Ask libvips to abandon `image`'s computation once `cancel` is set (eval/kill)."""

    def on_eval(target: Any, _progress: Any) -> None:
        if cancel.is_set():
            target.set_kill(True)

    image.set_progress(True)
    image.signal_connect("eval", on_eval)


def _vips_reason(error: Any) -> str:
    detail = str(getattr(error, "detail", "") or error).strip().splitlines()
    return f"libvips could not read the image: {detail[0] if detail else 'unknown error'}"

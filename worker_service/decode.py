"""Reading a source once: its header checked, then its pixels decoded at the smallest size every
variant can be made from, in sRGB with 8 bits per sample, held in memory.

`thumbnail` shrinks JPEG, WebP and HEIF while it decodes them (shrink-on-load), auto-rotates from
EXIF, reads the first page of an animated or multi-page file, and converts CMYK to sRGB. A
source with an embedded RGB profile other than sRGB (Display P3, Adobe RGB) is converted after
the shrink, on the small image; an untagged or sRGB one is not put through a transform, which
would cost as much as the resize itself.
"""

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyvips

from shared.geometry import Size
from shared.images import (
    ImageHeader,
    ImageRejected,
    Limits,
    check_outputs,
    check_source,
    read_header,
)
from shared.variants import Variant
from worker_service import colour, heif
from worker_service.cancel import stop_when_set
from worker_service.errors import PermanentFailure

_ICC = "icc-profile-data"


def inspect_source(path: Path, variants: Sequence[Variant], limits: Limits) -> ImageHeader:
    """Read the header only; refuse a file that is no image we read, or is over a limit, or
    whose variants would make more output than a job may."""
    try:
        header = read_header(path)
        check_source(header, limits)
        check_outputs(variants, header, limits)
    except ImageRejected as exc:
        raise PermanentFailure(exc.code, str(exc)) from exc
    return header


def decode(
    path: Path, header: ImageHeader, size: Size, cancel: threading.Event | None = None
) -> Any:
    """The source's first page, fitted inside `size` (never enlarged), in memory."""
    if header.hevc:
        image = heif.load_hevc(path).thumbnail_image(size.width, height=size.height, size="down")
    else:
        image = pyvips.Image.thumbnail(
            str(path), size.width, height=size.height, size="down", fail_on="error"
        )
    image = _to_srgb(image)
    if cancel is not None:
        stop_when_set(image, cancel)
    return image.copy_memory()


def is_grey(image: Any) -> bool:
    """One colour band, with or without alpha."""
    return bool(image.bands - image.hasalpha() == 1)


def _to_srgb(image: Any) -> Any:
    profile = image.get(_ICC) if image.get_typeof(_ICC) else None
    if colour.needs_conversion(profile):
        image = image.icc_transform("srgb", embedded=True, intent="perceptual")
    wanted = "b-w" if is_grey(image) else "srgb"
    if image.interpretation != wanted or image.format != "uchar":
        # 16-bit, float and other spaces (LAB TIFFs, say) down to what every encoder takes.
        image = image.colourspace(wanted)
        if image.format != "uchar":
            image = image.cast("uchar")
    return image

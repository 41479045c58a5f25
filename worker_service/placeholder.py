"""What a page paints before an output loads, from the decode already in memory: a ThumbHash and
the dominant colour, both computed on a copy of at most 32x32 pixels (a ThumbHash keeps fewer
than 8x8 frequencies, so more pixels would cost time and change nothing visible).
"""

import base64
from collections import defaultdict
from typing import Any

from shared.schemas import Placeholder
from worker_service.decode import is_grey
from worker_service.thumbhash import rgba_to_thumbhash

SIDE = 32
# Colours are counted in 16 levels per channel: coarse enough that a sky's many near-identical
# blues count as one colour, fine enough that two different colours stay apart.
_LEVEL_SHIFT = 4
# Mostly transparent pixels are not counted: they are not what a viewer sees.
_OPAQUE = 128


def placeholder_of(image: Any) -> Placeholder:
    """`image`: 8-bit sRGB or grey, with or without alpha (as `decode` makes it)."""
    small = image.thumbnail_image(SIDE, height=SIDE)
    if is_grey(small):
        small = small.colourspace("srgb")
    if not small.hasalpha():
        small = small.bandjoin(255)
    rgba = bytes(small.write_to_memory())
    thumbhash = rgba_to_thumbhash(small.width, small.height, rgba)
    return Placeholder(
        thumbhash=base64.b64encode(thumbhash).decode(), dominant_color=dominant_colour(rgba)
    )


def dominant_colour(rgba: bytes) -> str:
    """The mean colour of the most populated 16x16x16 bin of the opaque pixels, `#rrggbb`."""
    bins: dict[tuple[int, ...], list[bytes]] = defaultdict(list)
    for index in range(0, len(rgba), 4):
        if rgba[index + 3] >= _OPAQUE:
            pixel = rgba[index : index + 3]
            bins[tuple(channel >> _LEVEL_SHIFT for channel in pixel)].append(pixel)
    if not bins:
        return "#ffffff"  # a fully transparent image: the page's own background shows through
    members = max(bins.values(), key=len)
    red, green, blue = (round(sum(p[band] for p in members) / len(members)) for band in range(3))
    return f"#{red:02x}{green:02x}{blue:02x}"

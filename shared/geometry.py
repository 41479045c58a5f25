"""The sizes a job needs, as plain arithmetic on the source's displayed size (after EXIF
rotation): each variant's output size, the pixels they add up to (the API caps them before
accepting a job), and the smallest decode that still covers them all.

Every output size is computed here from the source, never from an intermediate image, so
decoding once at a reduced size cannot shift an output by a pixel.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from shared.variants import Fit, Variant


@dataclass(frozen=True)
class Size:
    width: int
    height: int

    def scaled(self, scale: float) -> "Size":
        """This size times `scale`, rounded up, so the result still covers the scaled area."""
        return Size(max(1, math.ceil(self.width * scale)), max(1, math.ceil(self.height * scale)))


def _round(value: float) -> int:
    # Half away from zero, as libvips rounds sizes (Python's round() goes to even).
    return max(1, math.floor(value + 0.5))


def _crops(variant: Variant) -> bool:
    """`cover` and `fill` need both sides; with one, a variant fits like `contain`."""
    return variant.width is not None and variant.height is not None


def output_size(variant: Variant, source: Size) -> Size:
    """The size of `variant` made from a source of `source` size."""
    box_w, box_h = variant.width, variant.height
    if variant.fit is Fit.FILL and box_w is not None and box_h is not None:
        if variant.upscale:
            return Size(box_w, box_h)
        return Size(min(box_w, source.width), min(box_h, source.height))
    resized = resized_size(variant, source)
    if variant.fit is Fit.COVER and box_w is not None and box_h is not None:
        return Size(min(box_w, resized.width), min(box_h, resized.height))
    return resized


def output_pixels(variants: Sequence[Variant], source: Size) -> int:
    """The pixels of every output a job makes from a source of `source` size."""
    sizes = (output_size(variant, source) for variant in variants)
    return sum(size.width * size.height for size in sizes)


def resized_size(variant: Variant, source: Size) -> Size:
    """The size the source is scaled to, before `cover` crops it to the box."""
    scale = resize_scale(variant, source)
    return Size(_round(source.width * scale), _round(source.height * scale))


def resize_scale(variant: Variant, source: Size) -> float:
    """How much the source is scaled, before any crop, to make `variant`."""
    if variant.fit is Fit.FILL and _crops(variant):
        out = output_size(variant, source)
        return max(out.width / source.width, out.height / source.height)
    scales = [
        box / side
        for box, side in ((variant.width, source.width), (variant.height, source.height))
        if box is not None
    ]
    # `cover` scales until both sides fill the box; otherwise until both fit in it.
    scale = max(scales) if variant.fit is Fit.COVER and _crops(variant) else min(scales)
    return scale if variant.upscale else min(scale, 1.0)


def decode_size(variants: list[Variant], source: Size) -> Size:
    """The smallest size to decode the source at from which every variant can be made by
    shrinking alone; never more than the source itself (upscaling starts from that)."""
    scale = min(1.0, max(resize_scale(variant, source) for variant in variants))
    return source.scaled(scale)

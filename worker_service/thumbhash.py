"""ThumbHash: a ~25-byte placeholder that a page decodes into a blurred preview with the right
colours, aspect ratio and alpha (https://evanw.github.io/thumbhash/, MIT licence).

A port of the reference encoder (`rgbaToThumbHash` in thumbhash.js), byte for byte: the image
is split into luminance, two colour channels and alpha, and each is kept as a few DCT
coefficients. Plain Python, so callers keep the input small (the worker uses 32x32 at most).
"""

import math
from collections.abc import Sequence

MAX_SIDE = 100


def _round(value: float) -> int:
    """JavaScript's Math.round: halves go up (Python's round() goes to the even neighbour)."""
    return math.floor(value + 0.5)


def rgba_to_thumbhash(width: int, height: int, rgba: bytes | Sequence[int]) -> bytes:
    """The ThumbHash of an RGBA image (not premultiplied) of at most 100x100 pixels."""
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise ValueError(f"{width}x{height} does not fit in {MAX_SIDE}x{MAX_SIDE}")
    pixels = width * height
    average = [0.0, 0.0, 0.0]
    total_alpha = 0.0
    for index in range(0, pixels * 4, 4):
        alpha = rgba[index + 3] / 255
        for band in range(3):
            average[band] += alpha / 255 * rgba[index + band]
        total_alpha += alpha
    if total_alpha:
        average = [value / total_alpha for value in average]
    has_alpha = total_alpha < pixels
    l_limit = 5 if has_alpha else 7  # fewer luminance terms when alpha takes room
    lx = max(1, _round(l_limit * width / max(width, height)))
    ly = max(1, _round(l_limit * height / max(width, height)))

    # RGBA to LPQA, composited over the average colour.
    lum, yellow_blue, red_green, opacity = [], [], [], []
    for index in range(0, pixels * 4, 4):
        alpha = rgba[index + 3] / 255
        r, g, b = (
            average[band] * (1 - alpha) + alpha / 255 * rgba[index + band] for band in range(3)
        )
        lum.append((r + g + b) / 3)
        yellow_blue.append((r + g) / 2 - b)
        red_green.append(r - g)
        opacity.append(alpha)

    l_dc, l_ac, l_scale = _encode_channel(lum, width, height, max(3, lx), max(3, ly))
    p_dc, p_ac, p_scale = _encode_channel(yellow_blue, width, height, 3, 3)
    q_dc, q_ac, q_scale = _encode_channel(red_green, width, height, 3, 3)

    landscape = width > height
    header24 = (
        _round(63 * l_dc)
        | (_round(31.5 + 31.5 * p_dc) << 6)
        | (_round(31.5 + 31.5 * q_dc) << 12)
        | (_round(31 * l_scale) << 18)
        | (int(has_alpha) << 23)
    )
    header16 = (
        (ly if landscape else lx)
        | (_round(63 * p_scale) << 3)
        | (_round(63 * q_scale) << 9)
        | (int(landscape) << 15)
    )
    hashed = [header24 & 255, (header24 >> 8) & 255, header24 >> 16, header16 & 255, header16 >> 8]
    factors = [l_ac, p_ac, q_ac]
    if has_alpha:
        a_dc, a_ac, a_scale = _encode_channel(opacity, width, height, 5, 5)
        hashed.append(_round(15 * a_dc) | (_round(15 * a_scale) << 4))
        factors.append(a_ac)
    start = len(hashed)
    nibbles = [_round(15 * factor) for channel in factors for factor in channel]
    hashed.extend([0] * ((len(nibbles) + 1) // 2))
    for index, nibble in enumerate(nibbles):
        hashed[start + (index >> 1)] |= nibble << ((index & 1) << 2)
    return bytes(hashed)


def _encode_channel(
    channel: list[float], width: int, height: int, nx: int, ny: int
) -> tuple[float, list[float], float]:
    """DC term, AC terms normalised to 0..1, and their scale, of one channel's DCT."""
    dc, ac, scale = 0.0, [], 0.0
    for cy in range(ny):
        fy = [math.cos(math.pi / height * cy * (y + 0.5)) for y in range(height)]
        cx = 0
        while cx * ny < nx * (ny - cy):
            fx = [math.cos(math.pi / width * cx * (x + 0.5)) for x in range(width)]
            # Summed in the reference's order: on near-flat images the AC terms are rounding
            # noise, and another order would round them, and so the hash, differently.
            f = 0.0
            for y in range(height):
                row = y * width
                for x in range(width):
                    f += channel[row + x] * fx[x] * fy[y]
            f /= width * height
            if cx or cy:
                ac.append(f)
                scale = max(scale, abs(f))
            else:
                dc = f
            cx += 1
    if scale:
        ac = [0.5 + 0.5 / scale * f for f in ac]
    return dc, ac, scale

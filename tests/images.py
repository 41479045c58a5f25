"""Test images made with libvips, so the suite needs no files from outside the repository."""

from pathlib import Path
from typing import Any

import pyvips

from shared.images import Limits
from shared.settings import Settings

# The limits of the default settings (whatever the environment says).
LIMITS = Limits.of(Settings.model_construct())

# Small files in the formats people upload, made by `python -m tests.fixtures.make`.
FIXTURES = Path(__file__).parent / "fixtures"


def photo(width: int, height: int) -> Any:
    """A colourful, detailed sRGB image: a gradient with noise, like a small photograph."""
    x = pyvips.Image.xyz(width, height)
    red = (x[0] * (255 / max(width, 1))).cast("uchar")
    green = (x[1] * (255 / max(height, 1))).cast("uchar")
    noise = pyvips.Image.gaussnoise(width, height, sigma=40, mean=128, seed=7).cast("uchar")
    return red.bandjoin([green, noise]).copy(interpretation="srgb")


def jpeg_bytes(
    width: int = 640, height: int = 480, *, orientation: int | None = None, gps: bool = False
) -> bytes:
    image = photo(width, height)
    if orientation is not None or gps:
        image = image.copy()
        if orientation is not None:
            image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
        if gps:
            image.set_type(pyvips.GValue.gstr_type, "exif-ifd3-GPSLatitude", "52 (52/1, 31/1, 0/1)")
    return bytes(image.jpegsave_buffer(Q=85, keep="all"))


def png_with_alpha(width: int = 300, height: int = 200) -> bytes:
    image = photo(width, height)
    alpha = pyvips.Image.black(width, height).new_from_image(128).cast("uchar")
    return bytes(image.bandjoin(alpha).copy(interpretation="srgb").pngsave_buffer())


def undecodable_png(width: int = 300, height: int = 200) -> bytes:
    """A PNG whose header reads fine but whose pixel data is broken (bad IDAT checksum)."""
    data = bytearray(photo(width, height).pngsave_buffer(compression=0))
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
    return bytes(data)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def load(data: bytes) -> Any:
    return pyvips.Image.new_from_buffer(data, "")

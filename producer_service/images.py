"""What an upload is: its type sniffed from the leading bytes, its size read from the header."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyvips

from producer_service.errors import PayloadTooLarge, UnsupportedMediaType

# libvips loaders the service lets near untrusted bytes; the sniffed type must agree.
ALLOWED_LOADERS = {
    "jpeg": "jpegload",
    "png": "pngload",
    "gif": "gifload",
    "webp": "webpload",
    "tiff": "tiffload",
    "heif": "heifload",
}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif"}


_SIGNATURES: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("jpeg", lambda head: head.startswith(b"\xff\xd8\xff")),
    ("png", lambda head: head.startswith(b"\x89PNG\r\n\x1a\n")),
    ("gif", lambda head: head[:6] in (b"GIF87a", b"GIF89a")),
    ("webp", lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP"),
    ("tiff", lambda head: head[:4] in (b"II*\x00", b"MM\x00*")),
    ("heif", lambda head: head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS),
)


def sniff_image_type(head: bytes) -> str | None:
    """The image type the leading bytes announce, or None for anything else."""
    return next((name for name, matches in _SIGNATURES if matches(head)), None)


@dataclass(frozen=True)
class ImageInfo:
    type: str
    width: int
    height: int


def probe_image(path: Path, image_type: str, max_pixels: int) -> ImageInfo:
    """Read the header only (libvips loads lazily) and refuse what cannot or must not be resized."""
    try:
        image = pyvips.Image.new_from_file(str(path))
        loader = str(image.get("vips-loader"))
    except pyvips.Error as exc:
        raise UnsupportedMediaType(f"The file is not a readable {image_type} image.") from exc
    if not loader.startswith(ALLOWED_LOADERS[image_type]):
        raise UnsupportedMediaType(f"The file is not a readable {image_type} image.")
    width, height = int(image.width), int(image.height)
    if width * height > max_pixels:
        raise PayloadTooLarge(
            f"The image is {width}x{height} = {width * height} pixels; "
            f"the limit is {max_pixels} pixels."
        )
    return ImageInfo(image_type, width, height)

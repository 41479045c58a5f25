"""What a source image is, by rules both services apply: its format sniffed from the leading
bytes, the one libvips loader that format may use, its size read from the header, and the pixel
limits a job must keep. The API applies them to an upload before it answers; the worker applies
them again to whatever a task points at, since a task can reach it by other roads.

Reading a header decodes no pixels (libvips loads lazily), so a decompression bomb is refused
before it costs memory. Pixels are counted over every page of a multi-page or animated image.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pyvips

from shared.geometry import Size, output_pixels
from shared.job_memory import MIB, job_bytes
from shared.schemas import ErrorCode, SourceImage
from shared.settings import Settings
from shared.variants import SourceFormat, Variant

# Bytes of one sample of each libvips band format.
_SAMPLE_BYTES = {"uchar": 1, "char": 1, "ushort": 2, "short": 2, "uint": 4, "int": 4, "float": 4}
# EXIF orientations that turn the image a quarter, so its displayed width and height swap.
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}


class ImageRejected(Exception):
    """The file is not an image the service will read."""

    # Why a job fails when the worker refuses its source so.
    code: ClassVar[ErrorCode] = ErrorCode.UNDECODABLE_IMAGE


class Unreadable(ImageRejected):
    """Not a readable image of the format its bytes announce."""


class TooLarge(ImageRejected):
    """A source bigger than the service reads."""


class TooManyPixels(TooLarge):
    """More pixels than MAX_INPUT_PIXELS, counted over every page."""

    code = ErrorCode.TOO_MANY_PIXELS


class TooManyPages(TooLarge):
    """More pages or frames than MAX_INPUT_PAGES."""

    code = ErrorCode.TOO_MANY_PAGES


class TooManyOutputPixels(ImageRejected):
    """Variants that would make more than MAX_OUTPUT_PIXELS from this source."""

    code = ErrorCode.TOO_MANY_OUTPUT_PIXELS

    def __init__(self, asked: int, limit: int) -> None:
        super().__init__(
            f"These variants would make {asked} output pixels from this image; "
            f"a job may make at most {limit} (MAX_OUTPUT_PIXELS). Ask for smaller sizes "
            "or fewer variants, or leave `upscale` off."
        )
        self.asked = asked
        self.limit = limit


class TooMuchMemory(ImageRejected):
    """Variants whose making would hold more memory at once than a worker's whole budget."""

    code = ErrorCode.TOO_MUCH_MEMORY

    def __init__(self, needed: int, budget: int) -> None:
        super().__init__(
            f"These variants would hold about {needed // MIB} MiB at once while they are made "
            f"from this image; a worker's jobs may hold {budget // MIB} MiB together "
            "(WORKER_MEMORY_MB). Ask for smaller sizes or fewer variants, or for WebP or JPEG, "
            "which take far less memory to encode than AVIF."
        )
        self.needed = needed
        self.budget = budget


_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
_SIGNATURES: tuple[tuple[SourceFormat, Callable[[bytes], bool]], ...] = (
    (SourceFormat.JPEG, lambda head: head.startswith(b"\xff\xd8\xff")),
    (SourceFormat.PNG, lambda head: head.startswith(b"\x89PNG\r\n\x1a\n")),
    (SourceFormat.GIF, lambda head: head[:6] in (b"GIF87a", b"GIF89a")),
    (SourceFormat.WEBP, lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP"),
    (SourceFormat.TIFF, lambda head: head[:4] in (b"II*\x00", b"MM\x00*")),
    (SourceFormat.HEIC, lambda head: head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS),
    (SourceFormat.AVIF, lambda head: head[4:8] == b"ftyp" and head[8:12] in _AVIF_BRANDS),
)
SNIFF_BYTES = 16

# The only libvips loader each format may reach: libvips picks a loader from the bytes, and
# without this a file could be opened by one the service never meant to expose (SVG, PDF, ...).
_LOADERS = {
    SourceFormat.JPEG: "jpegload",
    SourceFormat.PNG: "pngload",
    SourceFormat.GIF: "gifload",
    SourceFormat.WEBP: "webpload",
    SourceFormat.TIFF: "tiffload",
    SourceFormat.HEIC: "heifload",
    SourceFormat.AVIF: "heifload",
}
# libvips' class of each of those loaders; their file, buffer and source forms are subclasses.
_LOADER_CLASSES = {
    "jpegload": "VipsForeignLoadJpeg",
    "pngload": "VipsForeignLoadPng",
    "gifload": "VipsForeignLoadNsgif",
    "webpload": "VipsForeignLoadWebp",
    "tiffload": "VipsForeignLoadTiff",
    "heifload": "VipsForeignLoadHeif",
}


def restrict_libvips() -> None:
    """Block, process-wide, every libvips loader but those of `_LOADERS`, and every operation
    libvips marks untrusted: whatever reaches libvips (a crafted task message, a file whose
    bytes lie), SVG, PDF, ImageMagick and the loaders that read other files never run."""
    pyvips.operation_block_set("VipsForeignLoad", True)
    for loader in set(_LOADERS.values()):
        pyvips.operation_block_set(_LOADER_CLASSES[loader], False)
    pyvips.block_untrusted_set(True)


def sniff(head: bytes) -> SourceFormat | None:
    """The format the leading bytes announce, or None for anything else."""
    return next((fmt for fmt, matches in _SIGNATURES if matches(head)), None)


@dataclass(frozen=True)
class ImageHeader:
    format: SourceFormat
    # As displayed: after the EXIF orientation is applied.
    width: int
    height: int
    pages: int
    # A HEIF file whose pictures are HEVC-coded, which this libvips cannot decode.
    hevc: bool = False
    # Samples a pixel, and bytes a sample, as decoded.
    bands: int = 3
    sample_bytes: int = 1
    # An interlaced PNG or progressive JPEG, which cannot be decoded a few lines at a time.
    interlaced: bool = False

    @property
    def pixels(self) -> int:
        return self.width * self.height * self.pages

    def as_source(self) -> SourceImage:
        """What a client is told about the image."""
        return SourceImage(format=self.format, width=self.width, height=self.height)


def read_header(path: Path) -> ImageHeader:
    """Sniff the file and read its header; `Unreadable` unless it is all it claims to be."""
    with path.open("rb") as handle:
        fmt = sniff(handle.read(SNIFF_BYTES))
    if fmt is None:
        raise Unreadable("The file is not an image this service reads.")
    try:
        image = pyvips.Image.new_from_file(str(path))
        loader = str(image.get("vips-loader"))
        fields = _fields(image, "orientation", "n-pages", "heif-compression", "interlaced")
    except pyvips.Error as exc:
        raise Unreadable(f"The file is not a readable {fmt} image.") from exc
    if not loader.startswith(_LOADERS[fmt]):
        raise Unreadable(f"The file is not a readable {fmt} image.")
    hevc = fields.get("heif-compression") == "hevc"
    if fmt is SourceFormat.HEIC and not hevc and fields.get("heif-compression") == "av1":
        fmt = SourceFormat.AVIF  # a generic HEIF brand holding AV1: what browsers call AVIF
    width, height = int(image.width), int(image.height)
    if fields.get("orientation") in _SWAPPING_ORIENTATIONS:
        width, height = height, width
    return ImageHeader(
        fmt,
        width,
        height,
        pages=max(1, int(fields.get("n-pages", 1))),
        hevc=hevc,
        bands=int(image.bands),
        sample_bytes=_SAMPLE_BYTES.get(str(image.format), 8),
        interlaced=bool(fields.get("interlaced", 0)),
    )


@dataclass(frozen=True)
class Limits:
    """What one job may cost, from the settings both services read."""

    input_pixels: int
    input_pages: int
    output_pixels: int
    # A worker's whole memory budget: no one job may need more.
    memory_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> "Limits":
        return cls(
            settings.max_input_pixels,
            settings.max_input_pages,
            settings.max_output_pixels,
            settings.worker_memory_mb * MIB,
        )


def check_source(header: ImageHeader, limits: Limits) -> None:
    """Refuse a source with more pages, or more pixels over all of them, than `limits`."""
    if header.pages > limits.input_pages:
        raise TooManyPages(
            f"The image has {header.pages} pages or frames; the limit is {limits.input_pages}."
        )
    if header.pixels > limits.input_pixels:
        pages = f" over {header.pages} pages" if header.pages > 1 else ""
        raise TooManyPixels(
            f"The image is {header.width}x{header.height}{pages} = {header.pixels} pixels; "
            f"the limit is {limits.input_pixels} pixels."
        )


def check_outputs(variants: Sequence[Variant], header: ImageHeader, limits: Limits) -> None:
    """Refuse variants whose outputs from this source add up to more pixels than `limits`
    allows, or would take more memory to make than a worker has."""
    asked = output_pixels(variants, Size(header.width, header.height))
    if asked > limits.output_pixels:
        raise TooManyOutputPixels(asked, limits.output_pixels)
    needed = job_bytes(header, variants)
    if needed > limits.memory_bytes:
        raise TooMuchMemory(needed, limits.memory_bytes)


def _fields(image: Any, *names: str) -> dict[str, Any]:
    return {name: image.get(name) for name in names if image.get_typeof(name)}

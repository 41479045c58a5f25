"""The most memory a job holds at once, estimated from the source's header and its variants'
output sizes. The worker reserves it from its budget before a job starts
(`worker_service.memory`); both services refuse a job that needs more than the whole budget
(`shared.images.check_outputs`), the API before it answers.

A job holds, one after the other (`render.render`):
- while it decodes: the decoded image, at the size the largest variant needs, and, for a source
  libvips must decode whole first, that whole first page;
- while it encodes each variant, in turn: the decoded image, the outputs already encoded (kept
  until the job stores them), and the encoder's working set for this variant.
Its reservation is the larger of the two peaks.

Most sources are decoded a few lines at a time while they are shrunk (JPEG, WebP and HEIF even
shrink while decoding). Some must be decoded whole first, whatever the output size: an
interlaced PNG, a progressive JPEG (its coefficients, 2 bytes a sample), a GIF frame, an
HEIF/AVIF picture. Measured with `make bench` (section `bombs`): a 100 MP interlaced PNG takes
3.4 bytes a pixel, a 100 MP progressive JPEG 3.3.

"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.geometry import Size, decode_size, output_size
from shared.variants import OutputFormat, SourceFormat, Variant

if TYPE_CHECKING:
    # Only a type here: `shared.images` checks a job's limits with this module.
    from shared.images import ImageHeader

MIB = 1024 * 1024
# libvips' working buffers, the placeholder and Python's share, beyond what is counted below.
JOB_OVERHEAD = 16 * MIB
# Bytes a pixel of a whole decode, per decoded byte of the pixel: PNG holds the image itself;
# a progressive JPEG its 2-byte coefficients; libheif its YUV planes and then RGB.
_WHOLE_DECODE_FACTOR = {SourceFormat.PNG: 1.25, SourceFormat.JPEG: 2.2}
_DEFAULT_WHOLE_FACTOR = 2.0


@dataclass(frozen=True)
class EncoderCost:
    """Bytes an output pixel costs its encoder, opaque and with alpha."""

    # Held while the variant is encoded, beyond the decoded image: the encoder's working set
    # and the encoded file (libvips' buffer, then Python's copy of it).
    working: float
    working_alpha: float
    # The encoded file at most, kept until the job's outputs are stored.
    output: float
    output_alpha: float

    def encoding(self, pixels: int, alpha: bool) -> int:
        return int(pixels * (self.working_alpha if alpha else self.working))

    def kept(self, pixels: int, alpha: bool) -> int:
        return int(pixels * (self.output_alpha if alpha else self.output))


# Measured on this project's 2-core VM, libvips 8.18 (`make bench`, section `encoders`, at
# 40 MP; docs/benchmarks.md): the peak RSS of one job beyond the decoded image, the larger of
# a 64x64 PNG upscaled (smooth) and a detailed photo, in bytes an output pixel, opaque / alpha:
#   AVIF 22.5 / 34.0   the encoder holds the whole frame, as RGB, YUV planes and AV1's own
#   WebP  7.9 / 14.6   the whole frame, as ARGB and YUV
#   JPEG  6.2          optimize_coding keeps every DCT coefficient (2 bytes a sample) for its
#                      second pass; alpha is flattened first
#   PNG   4.1 / 4.9    rows stream; what is held is the file, twice (at most the raw pixels)
# and the encoded file at most (noise at quality 100): AVIF 3.6 / 5.0, WebP 1.1 / 2.1,
# JPEG 2.9, PNG 2.9 / 3.8. The model takes each with a quarter more, and PNG's working set as
# twice its largest file.
ENCODER_COSTS = {
    OutputFormat.AVIF: EncoderCost(working=28, working_alpha=43, output=4.5, output_alpha=6.5),
    OutputFormat.WEBP: EncoderCost(working=10, working_alpha=18.5, output=1.5, output_alpha=2.5),
    OutputFormat.JPEG: EncoderCost(working=8, working_alpha=8, output=3.5, output_alpha=3.5),
    OutputFormat.PNG: EncoderCost(working=7.5, working_alpha=10, output=3.5, output_alpha=5),
}


def decoded_whole(header: "ImageHeader") -> bool:
    """Whether the loader must decode the whole first page before any of it is shrunk."""
    if header.format in (SourceFormat.PNG, SourceFormat.JPEG):
        return header.interlaced
    return header.format in (SourceFormat.GIF, SourceFormat.HEIC, SourceFormat.AVIF)


def has_alpha(header: "ImageHeader") -> bool:
    """Grey and alpha, or RGBA (or CMYK, which costs no more): what the outputs will carry."""
    return header.bands in (2, 4)


def decode_bytes(header: "ImageHeader", decode: Size) -> int:
    """The most memory decoding this source at `decode` size holds at once."""
    held = _held_bytes(header, decode)
    if decoded_whole(header):
        # GIF frames are decoded to RGBA whatever the palette.
        pixel = 4 if header.format is SourceFormat.GIF else header.bands * header.sample_bytes
        factor = _WHOLE_DECODE_FACTOR.get(header.format, _DEFAULT_WHOLE_FACTOR)
        held += int(header.width * header.height * pixel * factor)
    return held + JOB_OVERHEAD


def encode_bytes(header: "ImageHeader", variants: Sequence[Variant]) -> int:
    """The most memory encoding the variants, one after another, holds at once beyond the
    decoded image: the outputs already made and the encoder at work."""
    source = Size(header.width, header.height)
    alpha = has_alpha(header)
    kept = peak = 0
    for variant in variants:
        size = output_size(variant, source)
        pixels = size.width * size.height
        cost = ENCODER_COSTS[variant.format]
        peak = max(peak, kept + cost.encoding(pixels, alpha))
        kept += cost.kept(pixels, alpha)
    return peak


def job_bytes(header: "ImageHeader", variants: Sequence[Variant]) -> int:
    """The most memory a job holds at once: while it decodes, or while it encodes."""
    decode = decode_size(list(variants), Size(header.width, header.height))
    encoding = _held_bytes(header, decode) + encode_bytes(header, variants) + JOB_OVERHEAD
    return max(decode_bytes(header, decode), encoding)


def _held_bytes(header: "ImageHeader", decode: Size) -> int:
    """The decoded image every variant is made from (counted at the source's sample size)."""
    return decode.width * decode.height * header.bands * header.sample_bytes

"""The memory a job's decode holds, read from the source's header, and the budget all of a
worker's jobs share, so that several large sources at once cannot take the worker past it.

Most sources are decoded a few lines at a time while they are shrunk (JPEG, WebP and HEIF even
shrink while decoding), and hold little beyond the reduced image every variant is made from.
Some must be decoded whole first, whatever the output size: an interlaced PNG, a progressive
JPEG (its coefficients, 2 bytes a sample), a GIF frame, an HEIF/AVIF picture. Measured with
`make bench` (section `bombs`): a 100 MP interlaced PNG takes 3.4 bytes a pixel, a 100 MP
progressive JPEG 3.3.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from shared.geometry import Size
from shared.images import ImageHeader
from shared.schemas import ErrorCode, SourceFormat
from worker_service.errors import PermanentFailure

MIB = 1024 * 1024
# libvips' working buffers and the encoders' output, beyond the pixels held.
JOB_OVERHEAD = 16 * MIB
# Bytes a pixel of a whole decode, per decoded byte of the pixel: PNG holds the image itself;
# a progressive JPEG its 2-byte coefficients; libheif its YUV planes and then RGB.
_WHOLE_DECODE_FACTOR = {SourceFormat.PNG: 1.25, SourceFormat.JPEG: 2.2}
_DEFAULT_WHOLE_FACTOR = 2.0


def decoded_whole(header: ImageHeader) -> bool:
    """Whether the loader must decode the whole first page before any of it is shrunk."""
    if header.format in (SourceFormat.PNG, SourceFormat.JPEG):
        return header.interlaced
    return header.format in (SourceFormat.GIF, SourceFormat.HEIC, SourceFormat.AVIF)


def decode_bytes(header: ImageHeader, decode: Size) -> int:
    """The most memory decoding this source at `decode` size holds at once."""
    pixel = header.bands * header.sample_bytes
    held = decode.width * decode.height * pixel
    if decoded_whole(header):
        # GIF frames are decoded to RGBA whatever the palette.
        pixel = 4 if header.format is SourceFormat.GIF else pixel
        factor = _WHOLE_DECODE_FACTOR.get(header.format, _DEFAULT_WHOLE_FACTOR)
        held += int(header.width * header.height * pixel * factor)
    return held + JOB_OVERHEAD


class MemoryBudget:
    """Bytes the worker's running jobs may hold together. A job waits until its share is free,
    in turn (first come, first served, so a large job is not passed over forever); one that
    needs more than the whole budget fails at once."""

    def __init__(self, total_bytes: int) -> None:
        self.total = total_bytes
        self._free = total_bytes
        self._turn = asyncio.Lock()
        self._released = asyncio.Event()

    @property
    def free(self) -> int:
        return self._free

    @asynccontextmanager
    async def reserve(self, amount: int) -> AsyncIterator[None]:
        if amount > self.total:
            raise PermanentFailure(
                ErrorCode.TOO_MANY_PIXELS,
                f"Decoding this image needs about {amount // MIB} MiB; a worker's jobs may hold "
                f"{self.total // MIB} MiB (WORKER_MEMORY_MB). Send a smaller image, or a "
                "non-interlaced PNG or baseline JPEG, which are decoded a few lines at a time.",
            )
        async with self._turn:
            while self._free < amount:
                self._released.clear()
                await self._released.wait()
            self._free -= amount
        try:
            yield
        finally:
            self._free += amount
            self._released.set()

"""Malformed images for fuzzing: a small valid file of each format the service accepts, then
truncated, bit-flipped, spliced, or with its header lying about its size."""

import struct
import zlib
from functools import cache

from hypothesis import strategies as st

from tests.images import FIXTURES, photo

# An odd size, so its bytes are unlikely to appear in a header by chance.
WIDTH, HEIGHT = 67, 45
# Sizes a lying header claims: empty, tiny, under and over the pixel limit, and the largest
# a 16- or 32-bit field holds.
LIES = (0, 1, 3, 9000, 12000, 65535, 2**31 - 1, 2**32 - 1)
_SIZE_FIELDS = (">H", "<H", ">I", "<I")


@cache
def seeds() -> dict[str, bytes]:
    """One valid small file per format and quirk (animation, pages, HEVC)."""
    image = photo(WIDTH, HEIGHT)
    return {
        "jpeg": bytes(image.jpegsave_buffer(Q=80)),
        "png": bytes(image.pngsave_buffer()),
        "webp": bytes(image.webpsave_buffer()),
        "gif": bytes(image.gifsave_buffer()),
        "tiff": bytes(image.tiffsave_buffer(compression="deflate")),
        "avif": bytes(image.heifsave_buffer(compression="av1", effort=0)),
        "heic-hevc": (FIXTURES / "phone.heic").read_bytes(),
        "animated-gif": (FIXTURES / "animated.gif").read_bytes(),
        "animated-webp": (FIXTURES / "animated.webp").read_bytes(),
        "two-page-tiff": (FIXTURES / "two_pages.tiff").read_bytes(),
    }


def truncated(data: bytes, at: int) -> bytes:
    return data[: at % (len(data) + 1)]


def bit_flipped(data: bytes, positions: list[int]) -> bytes:
    flipped = bytearray(data)
    for position in positions:
        flipped[(position // 8) % len(data)] ^= 1 << (position % 8)
    return bytes(flipped)


def spliced(data: bytes, at: int, inserted: bytes, removed: int) -> bytes:
    at %= len(data) + 1
    return data[:at] + inserted + data[at + removed :]


def lying_about_size(data: bytes, width: int, height: int) -> bytes:
    """Every place the header stores WIDTH and HEIGHT (as 16- or 32-bit integers, either byte
    order, either way round) made to claim `width` x `height`; a PNG's IHDR checksum is fixed
    up so the lie gets past it."""
    lied = bytearray(data)
    for field in _SIZE_FIELDS:
        mask = 0xFFFF if "H" in field else 0xFFFFFFFF
        for first, second, new in (
            (WIDTH, HEIGHT, (width, height)),
            (HEIGHT, WIDTH, (height, width)),
        ):
            pair = struct.pack(field, first) + struct.pack(field, second)
            at = lied.find(pair, 0, 1024)
            if at >= 0:
                size = len(pair) // 2
                lied[at : at + size] = struct.pack(field, new[0] & mask)
                lied[at + size : at + 2 * size] = struct.pack(field, new[1] & mask)
    ihdr = lied.find(b"IHDR")
    if lied.startswith(b"\x89PNG") and ihdr >= 0:
        lied[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(lied[ihdr : ihdr + 17])))
    return bytes(lied)


@st.composite
def mutated_images(draw: st.DrawFn) -> bytes:
    """A seed image, then one to three mutations of it."""
    data = seeds()[draw(st.sampled_from(sorted(seeds())))]
    positions = st.integers(min_value=0, max_value=2**20)
    mutations = st.one_of(
        st.builds(lambda at: (truncated, at), positions),
        st.builds(lambda bits: (bit_flipped, bits), st.lists(positions, min_size=1, max_size=16)),
        st.builds(
            lambda at, inserted, removed: (spliced, at, inserted, removed),
            positions,
            st.binary(max_size=64),
            st.integers(min_value=0, max_value=64),
        ),
        st.builds(
            lambda width, height: (lying_about_size, width, height),
            st.sampled_from(LIES),
            st.sampled_from(LIES),
        ),
    )
    for mutate, *arguments in draw(st.lists(mutations, min_size=1, max_size=3)):
        data = mutate(data, *arguments) if data else data
    return data

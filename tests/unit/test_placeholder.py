"""ThumbHash against the reference encoder, and the dominant colour."""

import base64
from typing import Any

import pytest
import pyvips

from tests.images import FIXTURES, photo
from worker_service.placeholder import dominant_colour, placeholder_of
from worker_service.thumbhash import rgba_to_thumbhash


def rgba(image: Any) -> bytes:
    if not image.hasalpha():
        image = image.bandjoin(255)
    return bytes(image.write_to_memory())


# Expected hashes from evanw/thumbhash's `rgbaToThumbHash` (JavaScript) run on the same RGBA
# bytes. Textured images only: on a flat one the AC terms are rounding noise, and JavaScript's
# and C's cosines may differ in the last bit.
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("alpha.png", "VzqDA4A1twd3iI3IiI+M+AeYh3iDimg="),
        (None, "3wcKNZqAh4eAeId4d3iHiHBwB/iI"),  # tests.images.photo(100, 75)
    ],
)
def test_thumbhash_matches_the_reference_encoder(name: str | None, expected: str) -> None:
    if name is None:
        image = photo(100, 75)
    else:
        image = pyvips.Image.thumbnail(str(FIXTURES / name), 32, height=32)
    hashed = rgba_to_thumbhash(image.width, image.height, rgba(image))
    assert base64.b64encode(hashed).decode() == expected


def test_thumbhash_refuses_an_image_over_100_pixels_a_side() -> None:
    with pytest.raises(ValueError, match="100x100"):
        rgba_to_thumbhash(101, 10, bytes(101 * 10 * 4))


def test_the_dominant_colour_is_the_biggest_group_of_similar_opaque_pixels() -> None:
    red, near_red, blue = b"\xc8\x28\x28\xff", b"\xc4\x2a\x26\xff", b"\x28\x5a\xc8\xff"
    clear_green = b"\x00\xff\x00\x00"
    assert dominant_colour(red * 3 + near_red * 3 + blue * 5 + clear_green * 9) == "#c62927"
    assert dominant_colour(clear_green * 4) == "#ffffff"


def test_the_placeholder_comes_from_the_decoded_image() -> None:
    decoded = pyvips.Image.new_from_file(str(FIXTURES / "alpha.png"))
    placeholder = placeholder_of(decoded)
    assert placeholder.dominant_color == "#c82828"  # the disc; its transparent frame is ignored
    assert len(base64.b64decode(placeholder.thumbhash)) <= 30

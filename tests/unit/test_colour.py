"""Which embedded profiles send a source through a colour transform."""

import struct

import pytest
import pyvips

from worker_service.colour import needs_conversion, profile_description


def builtin_profile(name: str) -> bytes:
    """The profile libvips embeds when it converts to `name` (srgb, p3, cmyk)."""
    image = pyvips.Image.black(2, 2, bands=3).copy(interpretation="srgb").icc_transform(name)
    return bytes(image.get("icc-profile-data"))


@pytest.mark.parametrize(
    ("profile", "converted"),
    [("p3", True), ("srgb", False), ("cmyk", False)],  # CMYK: converted on load, not here
)
def test_only_rgb_profiles_other_than_srgb_are_converted(profile: str, converted: bool) -> None:
    assert needs_conversion(builtin_profile(profile)) is converted


@pytest.mark.parametrize("profile", [None, b"", b"RGB " * 10, b"\0" * 200])
def test_no_profile_or_a_broken_one_is_left_alone(profile: bytes | None) -> None:
    assert not needs_conversion(profile)


def v2_profile(description: str) -> bytes:
    """A bare ICC v2 RGB profile: header, a one-entry tag table, a textDescriptionType tag."""
    text = description.encode("latin-1") + b"\0"
    tag = b"desc" + bytes(4) + struct.pack(">I", len(text)) + text
    header = bytearray(128)
    header[8:12], header[16:20] = b"\x02\x10\x00\x00", b"RGB "
    table = struct.pack(">I4sII", 1, b"desc", 128 + 16, len(tag))
    return bytes(header) + table + tag


def test_the_description_is_read_from_v2_and_v4_profiles() -> None:
    assert profile_description(v2_profile("Adobe RGB (1998)")) == "Adobe RGB (1998)"
    assert needs_conversion(v2_profile("Adobe RGB (1998)"))
    assert not needs_conversion(v2_profile("sRGB IEC61966-2.1"))
    assert profile_description(builtin_profile("srgb")) == "sRGB"  # v4, multiLocalizedUnicode

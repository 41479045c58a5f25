"""Which embedded colour profiles change pixels when converted to sRGB.

Converting to sRGB costs as much as the resize itself, so it runs only where it matters: a
source with an embedded RGB profile other than sRGB (Display P3 from phones, Adobe RGB, ProPhoto)
is converted. An untagged or sRGB-tagged source is sRGB already; CMYK is converted by libvips'
thumbnail as it loads; a grey profile is left as it is.

A profile is taken for sRGB by its description, as every sRGB profile in use names itself
("sRGB IEC61966-2.1", "sRGB built-in", "sRGB v4 ICC preference", ...).
"""

import struct

_HEADER_BYTES = 132
_TAG_BYTES = 12


def needs_conversion(profile: bytes | None) -> bool:
    """True for an RGB profile that is not sRGB: pixels must be converted to sRGB."""
    if not profile or len(profile) < _HEADER_BYTES or profile[16:20] != b"RGB ":
        return False
    description = profile_description(profile)
    return description is None or "srgb" not in description.lower()


def profile_description(profile: bytes) -> str | None:
    """The profile's `desc` tag, from an ICC v2 (`desc`) or v4 (`mluc`) profile."""
    try:
        (count,) = struct.unpack_from(">I", profile, 128)
        for index in range(min(count, 256)):
            signature, offset, size = struct.unpack_from(
                ">4sII", profile, _HEADER_BYTES + index * _TAG_BYTES
            )
            if signature == b"desc":
                return _text(profile[offset : offset + size])
    except struct.error:
        return None
    return None


def _text(tag: bytes) -> str | None:
    kind = tag[:4]
    if kind == b"desc":  # textDescriptionType: ASCII count, then the text with its NUL
        (length,) = struct.unpack_from(">I", tag, 8)
        return tag[12 : 12 + length].rstrip(b"\0").decode("latin-1")
    if kind == b"mluc":  # multiLocalizedUnicodeType: the first record, UTF-16BE
        (records,) = struct.unpack_from(">I", tag, 8)
        if records:
            length, offset = struct.unpack_from(">II", tag, 20)
            return tag[offset : offset + length].decode("utf-16-be", "replace")
    return None

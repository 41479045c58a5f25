"""HEVC-coded HEIF (what phones save) decoded by libheif and libde265 from the pillow-heif
wheel: the libvips in pyvips-binary is built without an HEVC decoder (AV1-coded HEIF, AVIF,
it reads itself). libheif applies the file's rotation and mirroring as it decodes."""

from pathlib import Path
from typing import Any

import pillow_heif
import pyvips

_BANDS = {"RGB": 3, "RGBA": 4, "L": 1, "LA": 2}


class HeifDecodeError(Exception):
    """libheif could not decode the picture (a truncated or corrupt file)."""


def load_hevc(path: Path) -> Any:
    """The primary picture, 8 bits per sample, with its ICC profile if it has one."""
    try:
        heif = pillow_heif.open_heif(path, convert_hdr_to_8bit=True)
        picture = heif[heif.primary_index]
        data = bytes(picture.data)
    except (ValueError, RuntimeError) as exc:  # what pillow-heif raises for a broken file
        raise HeifDecodeError(str(exc)) from exc
    width, height = picture.size
    bands = _BANDS[picture.mode]
    row = width * bands
    if picture.stride != row:  # rows padded for alignment: pack them
        data = b"".join(
            data[start : start + row] for start in range(0, picture.stride * height, picture.stride)
        )
    interpretation = "srgb" if bands >= 3 else "b-w"
    image = pyvips.Image.new_from_memory(data, width, height, bands, "uchar").copy(
        interpretation=interpretation
    )
    profile = picture.info.get("icc_profile")
    if isinstance(profile, bytes) and profile:
        image.set_type(pyvips.GValue.blob_type, "icc-profile-data", profile)
    return image

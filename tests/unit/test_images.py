"""What a source is, by the rules both services apply: sniffing, the loader allow-list, the
header's displayed size and the pixel limit over every page."""

from dataclasses import replace
from pathlib import Path

import pytest
import pyvips

from shared.images import (
    TooManyPages,
    TooManyPixels,
    Unreadable,
    check_source,
    read_header,
    restrict_libvips,
    sniff,
)
from shared.variants import SourceFormat
from tests.images import FIXTURES, LIMITS, jpeg_bytes, photo, png_with_alpha, write


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\xff\xd8\xff\xe0" + b"\0" * 12, SourceFormat.JPEG),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 8, SourceFormat.PNG),
        (b"GIF89a" + b"\0" * 10, SourceFormat.GIF),
        (b"RIFF\0\0\0\0WEBPVP8 ", SourceFormat.WEBP),
        (b"II*\x00" + b"\0" * 12, SourceFormat.TIFF),
        (b"\0\0\0\x1cftypavif\0\0\0\0", SourceFormat.AVIF),
        (b"\0\0\0\x18ftypheic\0\0\0\0", SourceFormat.HEIC),
        (b"\0\0\0\x18ftypmif1\0\0\0\0", SourceFormat.HEIC),
        (b"\0\0\0\x18ftypisom\0\0\0\0", None),  # an MP4 video
        (b"<svg xmlns='http://www.w3.org/2000/svg'>", None),
        (b"%PDF-1.7\n" + b"\0" * 8, None),
        (b"", None),
    ],
)
def test_the_format_is_read_from_the_leading_bytes(head: bytes, kind: SourceFormat | None) -> None:
    assert sniff(head) == kind


@pytest.mark.parametrize(
    ("name", "fmt", "size", "pages"),
    [
        ("phone.heic", SourceFormat.HEIC, (96, 64), 1),
        ("animated.gif", SourceFormat.GIF, (96, 64), 3),
        ("animated.webp", SourceFormat.WEBP, (96, 64), 3),
        ("two_pages.tiff", SourceFormat.TIFF, (96, 64), 2),
        ("rotated.jpg", SourceFormat.JPEG, (96, 64), 1),  # stored 64x96, EXIF turns it
        ("cmyk.jpg", SourceFormat.JPEG, (96, 64), 1),
    ],
)
def test_the_header_gives_format_displayed_size_and_pages(
    name: str, fmt: SourceFormat, size: tuple[int, int], pages: int
) -> None:
    header = read_header(FIXTURES / name)
    assert (header.format, (header.width, header.height), header.pages) == (fmt, size, pages)
    assert header.as_source().model_dump() == {"format": fmt, "width": size[0], "height": size[1]}


def test_an_av1_heif_is_avif_and_an_hevc_one_is_marked(tmp_path: Path) -> None:
    path = write(tmp_path / "a.avif", bytes(photo(64, 48).heifsave_buffer(compression="av1")))
    assert read_header(path).format is SourceFormat.AVIF
    assert not read_header(path).hevc
    assert read_header(FIXTURES / "phone.heic").hevc


def test_pixels_are_counted_over_every_page_and_pages_are_limited() -> None:
    header = read_header(FIXTURES / "animated.gif")
    check_source(header, replace(LIMITS, input_pixels=96 * 64 * 3, input_pages=3))
    with pytest.raises(TooManyPixels, match="over 3 pages"):
        check_source(header, replace(LIMITS, input_pixels=96 * 64 * 3 - 1))
    with pytest.raises(TooManyPages, match="3 pages or frames; the limit is 2"):
        check_source(header, replace(LIMITS, input_pages=2))


def test_a_gif_of_many_tiny_frames_is_refused_for_its_pages(tmp_path: Path) -> None:
    # Each frame unlike the last, or the encoder would merge them.
    frames = ((pyvips.Image.xyz(1, 5000)[1] % 2) * 255).cast("uchar").copy(interpretation="b-w")
    frames.set_type(pyvips.GValue.gint_type, "page-height", 1)
    path = write(tmp_path / "frames.gif", bytes(frames.gifsave_buffer()))
    header = read_header(path)
    assert header.pages == 5000
    with pytest.raises(TooManyPages):
        check_source(header, LIMITS)


def test_a_file_that_only_starts_like_an_image_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(Unreadable):
        read_header(write(tmp_path / "a.png", b"\x89PNG\r\n\x1a\n" + b"garbage" * 10))


def test_a_file_must_open_with_the_loader_of_the_format_it_announces(tmp_path: Path) -> None:
    # A TIFF signature in front of PNG bytes: libvips would find some loader, but not tiffload.
    with pytest.raises(Unreadable):
        read_header(write(tmp_path / "a.tif", b"II*\x00" + png_with_alpha()))
    assert read_header(write(tmp_path / "b.jpg", jpeg_bytes(30, 20))).width == 30


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8"/></svg>'


def test_once_restricted_libvips_opens_only_the_formats_the_service_reads() -> None:
    restrict_libvips()
    with pytest.raises(pyvips.Error):
        pyvips.Image.new_from_buffer(SVG, "")  # this libvips has svgload: blocked
    for fixture in FIXTURES.iterdir():
        if fixture.suffix in {".jpg", ".png", ".gif", ".webp", ".tiff"}:  # HEVC is pillow-heif's
            assert pyvips.Image.new_from_buffer(fixture.read_bytes(), "").width > 0, fixture

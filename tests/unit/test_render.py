"""Geometry, formats, orientation, colour and metadata of what the worker renders."""

import gc
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import pyvips

from shared.schemas import ErrorCode
from shared.variants import Crop, Fit, OutputFormat, Variant
from tests.images import (
    FIXTURES,
    LIMITS,
    jpeg_bytes,
    load,
    photo,
    png_with_alpha,
    undecodable_png,
    write,
)
from worker_service.cancel import RenderCancelled
from worker_service.decode import inspect_source
from worker_service.errors import PermanentFailure
from worker_service.render import prepare_libvips, render_job


@pytest.fixture
def landscape(tmp_path: Path) -> Path:
    return write(tmp_path / "landscape.jpg", jpeg_bytes(640, 480))


def render(path: Path, **fields: Any) -> tuple[Any, int, int]:
    variant = Variant.model_validate({"name": "v", **fields})
    (rendered,) = render_job(path, [variant], LIMITS).outputs
    return load(rendered.data), rendered.width, rendered.height


@pytest.mark.parametrize(
    ("fields", "size"),
    [
        ({"width": 320, "height": 320}, (320, 240)),
        ({"width": 200}, (200, 150)),
        ({"height": 120}, (160, 120)),
        ({"width": 1000, "height": 1000}, (640, 480)),
        ({"width": 1000, "height": 1000, "upscale": True}, (1000, 750)),
        ({"width": 200, "height": 200, "fit": "cover"}, (200, 200)),
        ({"width": 300, "height": 100, "fit": "cover"}, (300, 100)),
        ({"width": 300, "fit": "cover"}, (300, 225)),
        ({"width": 300, "height": 100, "fit": "fill"}, (300, 100)),
        ({"width": 1000, "height": 100, "fit": "fill"}, (640, 100)),
        ({"width": 1000, "height": 100, "fit": "fill", "upscale": True}, (1000, 100)),
    ],
)
def test_render_fits_the_box_as_the_variant_asks(
    landscape: Path, fields: dict[str, Any], size: tuple[int, int]
) -> None:
    image, width, height = render(landscape, **fields)
    assert (width, height) == size
    assert (image.width, image.height) == size


def test_cover_never_enlarges_a_small_source_without_upscale(landscape: Path) -> None:
    _, width, height = render(landscape, width=1000, height=1000, fit="cover")
    assert width <= 640
    assert height <= 480


@pytest.mark.parametrize("crop", list(Crop))
def test_cover_fills_the_box_with_every_crop(landscape: Path, crop: Crop) -> None:
    _, width, height = render(landscape, width=150, height=150, fit=Fit.COVER, crop=crop)
    assert (width, height) == (150, 150)


def test_attention_crop_keeps_the_detailed_part_where_centre_does_not(tmp_path: Path) -> None:
    flat = pyvips.Image.black(600, 200).new_from_image([20, 20, 20]).cast("uchar")
    busy = photo(150, 200)
    scene = flat.insert(busy, 450, 0).copy(interpretation="srgb")
    path = write(tmp_path / "scene.png", bytes(scene.pngsave_buffer()))
    centre, _, _ = render(path, width=200, height=200, fit="cover", crop="centre", format="png")
    attention, _, _ = render(
        path, width=200, height=200, fit="cover", crop="attention", format="png"
    )
    assert centre.deviate() < 1
    assert attention.deviate() > 10


@pytest.mark.parametrize(
    ("output_format", "loader"),
    [
        (OutputFormat.JPEG, "jpegload_buffer"),
        (OutputFormat.PNG, "pngload_buffer"),
        (OutputFormat.WEBP, "webpload_buffer"),
        (OutputFormat.AVIF, "heifload_buffer"),
    ],
)
def test_render_encodes_every_output_format(
    landscape: Path, output_format: OutputFormat, loader: str
) -> None:
    image, _, _ = render(landscape, width=160, format=output_format)
    assert image.get("vips-loader") == loader
    assert image.width == 160


@pytest.mark.parametrize("output_format", [OutputFormat.JPEG, OutputFormat.WEBP, OutputFormat.AVIF])
def test_lower_quality_gives_smaller_files(landscape: Path, output_format: OutputFormat) -> None:
    variant = {"name": "low", "width": 320, "format": output_format}
    low, high = render_job(
        landscape,
        [
            Variant.model_validate({**variant, "quality": 20}),
            Variant.model_validate({**variant, "name": "high", "quality": 95}),
        ],
        LIMITS,
    ).outputs
    assert len(low.data) < len(high.data)


def test_exif_orientation_is_applied_before_fitting(tmp_path: Path) -> None:
    path = write(tmp_path / "rotated.jpg", jpeg_bytes(640, 480, orientation=6))
    source = inspect_source(path, [Variant(name="t", width=320)], LIMITS)
    assert (source.width, source.height) == (480, 640)
    image, width, height = render(path, width=320, height=320)
    assert (width, height) == (240, 320)
    assert image.get_typeof("orientation") == 0


@pytest.mark.parametrize("output_format", list(OutputFormat))
def test_outputs_carry_no_exif_gps_xmp_or_icc(tmp_path: Path, output_format: OutputFormat) -> None:
    path = write(tmp_path / "gps.jpg", jpeg_bytes(320, 240, orientation=1, gps=True))
    assert "exif-ifd3-GPSLatitude" in load(path.read_bytes()).get_fields()
    image, _, _ = render(path, width=100, format=output_format)
    fields = image.get_fields()
    assert not [f for f in fields if f.startswith(("exif", "xmp", "iptc", "icc"))]


def test_cmyk_source_comes_out_as_srgb(tmp_path: Path) -> None:
    cmyk = photo(200, 100).bandjoin(photo(200, 100)[0]).copy(interpretation="cmyk")
    path = write(tmp_path / "cmyk.tif", bytes(cmyk.tiffsave_buffer()))
    image, _, _ = render(path, width=100, format="png")
    assert image.interpretation == "srgb"
    assert image.bands == 3


def test_transparency_is_kept_in_png_and_flattened_on_white_in_jpeg(tmp_path: Path) -> None:
    path = write(tmp_path / "alpha.png", png_with_alpha())
    as_png, _, _ = render(path, width=100, format="png")
    as_jpeg, _, _ = render(path, width=100, format="jpeg")
    assert as_png.hasalpha()
    assert not as_jpeg.hasalpha()
    assert as_jpeg.bands == 3


def test_a_source_over_the_pixel_limit_is_refused_from_its_header(landscape: Path) -> None:
    with pytest.raises(PermanentFailure) as caught:
        inspect_source(landscape, [], replace(LIMITS, input_pixels=640 * 480 - 1))
    assert caught.value.code is ErrorCode.TOO_MANY_PIXELS


def test_an_unreadable_header_is_a_permanent_failure(tmp_path: Path) -> None:
    path = write(tmp_path / "junk.jpg", b"\xff\xd8\xff" + b"\x00" * 500)
    with pytest.raises(PermanentFailure) as caught:
        inspect_source(path, [], LIMITS)
    assert caught.value.code is ErrorCode.UNDECODABLE_IMAGE


def test_undecodable_pixel_data_is_a_permanent_failure(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.png", undecodable_png())
    with pytest.raises(PermanentFailure) as caught:
        render_job(path, [Variant(name="v", width=10)], LIMITS)
    assert caught.value.code is ErrorCode.UNDECODABLE_IMAGE


def test_a_set_cancel_event_stops_libvips(tmp_path: Path) -> None:
    path = write(tmp_path / "big.jpg", jpeg_bytes(2000, 1500))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(RenderCancelled):
        render_job(path, [Variant(name="v", width=1900)], LIMITS, cancel=cancel)


def fixture(name: str) -> Path:
    return FIXTURES / name


COLOUR = (200, 40, 40)
SECOND = (40, 90, 200)


def colour_at(image: Any, x: int, y: int) -> tuple[float, ...]:
    return tuple(image.getpoint(x, y)[:3])


def close_to(found: tuple[float, ...], wanted: tuple[int, ...], within: float) -> bool:
    return all(abs(a - b) <= within for a, b in zip(found, wanted, strict=True))


@pytest.mark.parametrize(
    ("name", "within"),
    [
        ("display_p3.jpg", 4),  # converted from its embedded Display P3 profile
        ("cmyk.jpg", 10),  # untagged CMYK, through libvips' CMYK profile
        ("rgb16.png", 1),  # 16 bits per sample, down to 8
        ("phone.heic", 3),  # HEVC, as phones save photos
        ("animated.gif", 1),  # the first frame
        ("animated.webp", 3),
        ("two_pages.tiff", 1),  # the first page
    ],
)
def test_every_source_comes_out_as_its_colour_in_srgb(name: str, within: float) -> None:
    for output_format in ("png", "jpeg", "webp"):
        image, width, height = render(fixture(name), width=48, format=output_format)
        assert (width, height) == (48, 32)
        assert image.interpretation == "srgb"
        assert close_to(colour_at(image, 24, 24), COLOUR, within), (name, output_format)


def test_without_colour_management_the_p3_fixture_would_be_off() -> None:
    raw = pyvips.Image.new_from_file(str(fixture("display_p3.jpg")))
    assert not close_to(colour_at(raw, 24, 24), COLOUR, 4)


@pytest.mark.parametrize("name", ["grey.jpg", "grey16.png"])
def test_greyscale_sources_work_in_every_format(name: str) -> None:
    for output_format in OutputFormat:
        image, _, _ = render(fixture(name), width=48, format=output_format)
        assert abs(image.getpoint(24, 24)[0] - 90) <= 2, output_format


def test_alpha_is_kept_where_the_format_has_it_and_flattened_on_white_for_jpeg() -> None:
    for output_format in (OutputFormat.PNG, OutputFormat.WEBP, OutputFormat.AVIF):
        image, _, _ = render(fixture("alpha.png"), width=48, format=output_format)
        assert image.hasalpha(), output_format
        assert image.getpoint(1, 1)[3] == 0
    jpeg, _, _ = render(fixture("alpha.png"), width=48, format="jpeg")
    assert jpeg.bands == 3
    assert close_to(colour_at(jpeg, 1, 1), (255, 255, 255), 4)
    assert close_to(colour_at(jpeg, 24, 16), COLOUR, 6)


@pytest.mark.parametrize("name", ["rotated.jpg", "phone.heic"])
def test_the_marked_top_stays_on_top(name: str) -> None:
    image, width, height = render(fixture(name), width=96, format="png")
    assert (width, height) == (96, 64)
    assert close_to(colour_at(image, 48, 4), SECOND, 4)
    assert close_to(colour_at(image, 48, 50), COLOUR, 4)


def test_the_source_is_decoded_once_for_all_variants(
    landscape: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decodes: list[tuple[Any, ...]] = []
    thumbnail = pyvips.Image.thumbnail

    def counted(*args: Any, **kwargs: Any) -> Any:
        decodes.append(args)
        return thumbnail(*args, **kwargs)

    monkeypatch.setattr(pyvips.Image, "thumbnail", counted)
    variants = [Variant(name=f"v{side}", width=side) for side in (600, 300, 100)]
    rendered = render_job(
        landscape, [*variants, Variant(name="c", width=50, height=50, fit=Fit.COVER)], LIMITS
    )
    assert [o.width for o in rendered.outputs] == [600, 300, 100, 50]
    assert len(decodes) == 1
    assert decodes[0][1] == 600  # shrunk on load to what the largest variant needs


@pytest.mark.parametrize(("name", "transforms"), [("display_p3.jpg", 1), ("grey.jpg", 0)])
def test_only_a_non_srgb_profile_is_put_through_a_colour_transform(
    name: str, transforms: int, landscape: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    icc_transform = pyvips.Image.icc_transform

    def counted(image: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return icc_transform(image, *args, **kwargs)

    monkeypatch.setattr(pyvips.Image, "icc_transform", counted)
    render(fixture(name), width=48)
    render(landscape, width=48)  # untagged sRGB
    assert len(calls) == transforms


def test_jobs_on_the_same_file_with_cancel_handlers_do_not_crash_libvips(tmp_path: Path) -> None:
    # With libvips' operation cache on, the second job got the first one's decode back, with
    # a cancel handler whose Python side the collector had freed: the process aborted.
    path = write(tmp_path / "small.jpg", jpeg_bytes(96, 64))
    prepare_libvips()
    thresholds = gc.get_threshold()
    gc.set_threshold(1, 1, 1)
    try:
        for _ in range(20):
            variants = [
                Variant(name="a", width=48, format=OutputFormat.WEBP),
                Variant(name="b", width=32, height=32, fit=Fit.COVER),
            ]
            render_job(path, variants, LIMITS, cancel=threading.Event())
    finally:
        gc.set_threshold(*thresholds)


def test_a_truncated_hevc_heic_is_undecodable_not_an_internal_error(tmp_path: Path) -> None:
    """Found by tests/fuzz: its header reads, libheif fails on the pixels."""
    whole = (FIXTURES / "phone.heic").read_bytes()
    path = write(tmp_path / "cut.heic", whole[:-1])
    with pytest.raises(PermanentFailure) as caught:
        render_job(path, [Variant(name="v", width=10)], LIMITS)
    assert caught.value.code is ErrorCode.UNDECODABLE_IMAGE

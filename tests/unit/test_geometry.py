"""Output sizes computed from the source alone, and the one decode size that serves a job."""

import random
from typing import Any

import pytest
import pyvips

from shared.geometry import Size, decode_size, output_pixels, output_size, resized_size
from shared.variants import Fit, Variant


def random_case(rng: random.Random) -> tuple[Size, Variant]:
    source = Size(rng.randint(1, 5000), rng.randint(1, 5000))
    sides: dict[str, Any] = rng.choice(
        [
            {"width": rng.randint(1, 3000)},
            {"height": rng.randint(1, 3000)},
            {"width": rng.randint(1, 3000), "height": rng.randint(1, 3000)},
        ]
    )
    return source, Variant(name="v", fit=rng.choice(list(Fit)), upscale=rng.random() < 0.3, **sides)


def libvips_size(source: Size, variant: Variant) -> Size:
    """What libvips' own `thumbnail` makes of a source of that size, for comparison."""
    image = pyvips.Image.black(source.width, source.height)
    options: dict[str, Any] = {
        "height": variant.height or 10_000_000,
        "size": "both" if variant.upscale else "down",
    }
    if variant.width and variant.height and variant.fit is Fit.COVER:
        options["crop"] = "centre"
    if variant.width and variant.height and variant.fit is Fit.FILL:
        options["size"] = "force"
    result = image.thumbnail_image(variant.width or 10_000_000, **options)
    return Size(result.width, result.height)


def test_output_sizes_agree_with_libvips_thumbnail() -> None:
    rng = random.Random(7)
    for _ in range(300):
        source, variant = random_case(rng)
        if variant.fit is Fit.FILL and not variant.upscale and variant.width and variant.height:
            continue  # libvips' force always stretches; `fill` without upscale caps at the source
        assert output_size(variant, source) == libvips_size(source, variant), (source, variant)


def test_fill_without_upscale_never_exceeds_the_source() -> None:
    variant = Variant(name="v", width=1000, height=100, fit=Fit.FILL)
    assert output_size(variant, Size(640, 480)) == Size(640, 100)


@pytest.mark.parametrize(
    ("variants", "expected"),
    [
        ([Variant(name="a", width=1600), Variant(name="b", width=320)], Size(1600, 1200)),
        ([Variant(name="a", width=320, height=320, fit=Fit.COVER)], Size(427, 320)),
        ([Variant(name="a", height=6000, upscale=True)], Size(4000, 3000)),  # never above source
        ([Variant(name="a", width=100, height=2000, fit=Fit.FILL)], Size(2667, 2000)),
    ],
)
def test_the_decode_covers_the_largest_variant_and_no_more(
    variants: list[Variant], expected: Size
) -> None:
    assert decode_size(variants, Size(4000, 3000)) == expected


def test_every_variant_fits_inside_the_decode() -> None:
    rng = random.Random(11)
    for _ in range(300):
        source, variant = random_case(rng)
        decoded = decode_size([variant], source)
        assert decoded.width <= source.width
        assert decoded.height <= source.height
        if not variant.upscale:
            fill = variant.fit is Fit.FILL
            needed = output_size(variant, source) if fill else resized_size(variant, source)
            assert needed.width <= decoded.width, (source, variant)
            assert needed.height <= decoded.height, (source, variant)


def test_output_pixels_add_up_every_variant_as_it_will_be_made() -> None:
    source = Size(6000, 4000)
    variants = [
        Variant(name="a", width=1600),  # 1600x1067
        Variant(name="b", width=300, height=300, fit=Fit.COVER),  # 300x300
        Variant(name="c", width=8000, height=8000, fit=Fit.FILL),  # no upscale: the source
    ]
    assert output_pixels(variants, source) == 1600 * 1067 + 300 * 300 + 6000 * 4000

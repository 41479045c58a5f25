"""What each measurement asks for: the variant lists, defined once, and the uploads made of them."""

import json
from collections.abc import Sequence

import pyvips

from bench.client import Upload
from bench.corpus import Photo
from shared.variants import Fit, OutputFormat, Variant

# One corpus job: three widths for responsive images and a square thumbnail.
JOB_VARIANTS: tuple[Variant, ...] = (
    *(
        Variant(name=f"w{side}", width=side, height=side, format=OutputFormat.WEBP, quality=80)
        for side in (1600, 800, 320)
    ),
    Variant(
        name="sq256", width=256, height=256, fit=Fit.COVER, format=OutputFormat.JPEG, quality=80
    ),
)
# Lane jobs (section lanes), bulk and interactive alike: a listing's or an avatar's images.
LANE_VARIANTS = (
    Variant(name="w480", width=480, height=480, format=OutputFormat.WEBP, quality=80),
    Variant(name="sq160", width=160, height=160, fit=Fit.COVER, format=OutputFormat.JPEG),
)
# Latency jobs: the upload is what is measured, so the worker's share is kept small.
LATENCY_VARIANTS = (Variant(name="tiny", width=64, height=64, format=OutputFormat.JPEG),)
CEILING_VARIANTS = (Variant(name="tiny", width=32, height=32, format=OutputFormat.JPEG),)
CEILING_SIDE = 64


def upload_of(photo: Photo, variants: Sequence[Variant]) -> Upload:
    return Upload(photo.name, photo.data, variants_json(variants))


def corpus_uploads(photos: Sequence[Photo], count: int) -> list[Upload]:
    """`count` corpus jobs, cycling through the photos."""
    return [upload_of(photos[index % len(photos)], JOB_VARIANTS) for index in range(count)]


def tiny_upload() -> Upload:
    """A CEILING_SIDE-pixel square JPEG (a gradient), with CEILING_VARIANTS."""
    xy = pyvips.Image.xyz(CEILING_SIDE, CEILING_SIDE)
    rgb = (xy[0].bandjoin([xy[1], xy[0] + xy[1]]) * (127 / CEILING_SIDE)).cast("uchar")
    data = rgb.copy(interpretation="srgb").write_to_buffer(".jpg[Q=80]")
    return Upload("tiny.jpg", data, variants_json(CEILING_VARIANTS))


def variants_json(variants: Sequence[Variant]) -> str:
    return json.dumps([variant.model_dump(mode="json") for variant in variants])

"""The variant vocabulary both services speak: what a client asks for in `variants`, and the
formats the service reads and writes."""

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, model_validator

MAX_VARIANTS = 10
MAX_SIDE = 8192


class Fit(StrEnum):
    CONTAIN = "contain"
    COVER = "cover"
    FILL = "fill"


class Crop(StrEnum):
    CENTRE = "centre"
    ATTENTION = "attention"
    ENTROPY = "entropy"


class OutputFormat(StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    AVIF = "avif"

    @property
    def media_type(self) -> str:
        return f"image/{self.value}"

    @property
    def extension(self) -> str:
        """The file suffix, which also picks libvips' saver (`write_to_buffer(".jpg")`)."""
        return "jpg" if self is OutputFormat.JPEG else self.value


class SourceFormat(StrEnum):
    """The formats the service reads (see `shared.images` for how each is recognised)."""

    JPEG = "jpeg"
    PNG = "png"
    GIF = "gif"
    WEBP = "webp"
    TIFF = "tiff"
    HEIC = "heic"
    AVIF = "avif"


Side = Annotated[int, Field(ge=1, le=MAX_SIDE)]


# A variant's name: it names the output's URL, so nothing a path or a shell would read.
VARIANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class Variant(BaseModel):
    """One resized output of a job."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {"name": "thumb", "width": 320, "height": 320, "format": "webp"},
                {
                    "name": "square",
                    "width": 512,
                    "height": 512,
                    "fit": "cover",
                    "crop": "attention",
                },
            ]
        },
    )

    name: str = Field(
        pattern=VARIANT_NAME.pattern,
        description="Unique within the job; names the output's URL.",
    )
    width: Side | None = Field(default=None, description="Box width; at least one side is set.")
    height: Side | None = Field(default=None, description="Box height; at least one side is set.")
    fit: Fit = Field(
        default=Fit.CONTAIN,
        description="contain: inside the box, aspect kept; cover: fills the box, cropped; "
        "fill: stretched to the box. A missing side follows the aspect ratio.",
    )
    crop: Crop = Field(default=Crop.CENTRE, description="Which part `cover` keeps.")
    format: OutputFormat = OutputFormat.JPEG
    quality: int = Field(default=80, ge=1, le=100, description="Encoder quality (not PNG).")
    upscale: bool = Field(default=False, description="Enlarge a source smaller than the box.")

    @model_validator(mode="after")
    def _needs_a_side(self) -> "Variant":
        if self.width is None and self.height is None:
            raise ValueError("a variant needs a width, a height or both")
        return self


def _unique_names(variants: list[Variant]) -> list[Variant]:
    names = [variant.name for variant in variants]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"variant names must be unique; repeated: {', '.join(duplicates)}")
    return variants


VariantList = Annotated[
    list[Variant],
    Field(min_length=1, max_length=MAX_VARIANTS),
    AfterValidator(_unique_names),
]
variant_list_adapter: TypeAdapter[list[Variant]] = TypeAdapter(VariantList)

DEFAULT_VARIANTS: tuple[Variant, ...] = (
    Variant(name="thumb", width=320, height=320, format=OutputFormat.WEBP),
    Variant(name="large", width=1600, height=1600, format=OutputFormat.JPEG, quality=85),
)

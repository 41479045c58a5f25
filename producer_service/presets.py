"""Presets: named variant lists a submit asks for by name (`preset=avatar`), so clients change
sizes without spelling them out, and operators can bound what a job may ask for (PRESETS_ONLY).

The built-in ones below, plus PRESETS_FILE: a JSON or YAML mapping of name to a list of
variants, read and validated once when the API starts. A name in the file replaces the built-in
of that name; replacing `default` changes what a submit without variants or preset gets.
"""

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from shared.schemas import PRESET_NAME, Preset
from shared.settings import Settings
from shared.variants import DEFAULT_VARIANTS, Crop, Fit, OutputFormat, Variant, variant_list_adapter

DEFAULT_PRESET = "default"


def _avatar(side: int) -> Variant:
    return Variant(
        name=f"s{side}",
        width=side,
        height=side,
        fit=Fit.COVER,
        crop=Crop.ATTENTION,
        format=OutputFormat.WEBP,
    )


def _width(width: int) -> Variant:
    return Variant(name=f"w{width}", width=width, format=OutputFormat.WEBP)


BUILT_IN: tuple[Preset, ...] = (
    Preset(name=DEFAULT_PRESET, variants=list(DEFAULT_VARIANTS)),
    Preset(
        name="thumbnail",
        variants=[
            Variant(
                name="thumb",
                width=320,
                height=320,
                fit=Fit.COVER,
                crop=Crop.ATTENTION,
                format=OutputFormat.WEBP,
            )
        ],
    ),
    # Square faces for 1x, 2x and 4x screens; `attention` keeps the face, not the middle.
    Preset(name="avatar", variants=[_avatar(64), _avatar(128), _avatar(256)]),
    # Widths for an <img srcset>: a phone, a tablet, a laptop, a large screen.
    Preset(name="responsive", variants=[_width(w) for w in (320, 640, 1024, 1600)]),
)


class PresetsFileError(Exception):
    """PRESETS_FILE cannot be used; the message says which file, which preset and why."""


class Presets:
    """Every preset of this deployment, by name, in a stable order (built-ins first)."""

    def __init__(self, presets: Mapping[str, Preset]) -> None:
        self._presets = dict(presets)

    @classmethod
    def of(cls, settings: Settings) -> "Presets":
        presets = {preset.name: preset for preset in BUILT_IN}
        if settings.presets_file is not None:
            presets.update(read_presets_file(settings.presets_file))
        return cls(presets)

    def get(self, name: str) -> Preset | None:
        return self._presets.get(name)

    @property
    def names(self) -> list[str]:
        return list(self._presets)

    @property
    def default(self) -> Preset:
        return self._presets[DEFAULT_PRESET]

    def __iter__(self) -> Iterator[Preset]:
        return iter(self._presets.values())


def read_presets_file(path: Path) -> dict[str, Preset]:
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise PresetsFileError(f"PRESETS_FILE {path} cannot be read: {exc}") from exc
    if not isinstance(raw, dict) or not raw:
        raise PresetsFileError(
            f"PRESETS_FILE {path} must map preset names to lists of variants, "
            'for example {"avatar": [{"name": "small", "width": 128, "height": 128}]}.'
        )
    return {str(name): _preset(path, str(name), variants) for name, variants in raw.items()}


def _preset(path: Path, name: str, variants: Any) -> Preset:
    if PRESET_NAME.fullmatch(name) is None:
        raise PresetsFileError(
            f"PRESETS_FILE {path}: preset name {name!r} must match {PRESET_NAME.pattern}."
        )
    try:
        return Preset(name=name, variants=variant_list_adapter.validate_python(variants))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'variants'}: {error['msg']}"
            for error in exc.errors()
        )
        raise PresetsFileError(f"PRESETS_FILE {path}: preset {name!r}: {problems}") from exc

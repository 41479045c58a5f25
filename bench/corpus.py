"""The photos a run resizes: every image file of a folder (READMEs and licences are skipped),
read into memory once so the loops measure resizing, not the disk."""

from dataclasses import dataclass
from pathlib import Path

import pyvips

from bench.errors import BenchError

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".heic", ".avif"}
)


@dataclass(frozen=True)
class Photo:
    path: Path
    data: bytes
    # HEVC-coded HEIF, which the libvips of pyvips-binary cannot decode.
    hevc: bool

    @property
    def name(self) -> str:
        return self.path.name


def load_corpus(folder: Path) -> list[Photo]:
    """The folder's images, by name."""
    if not folder.is_dir():
        raise BenchError(f"the corpus {folder} is not a folder")
    paths = sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    )
    if not paths:
        raise BenchError(
            f"the corpus {folder} holds no images ({' '.join(sorted(IMAGE_SUFFIXES))})"
        )
    return [Photo(path, path.read_bytes(), _is_hevc(path)) for path in paths]


def smallest(photos: list[Photo], count: int) -> list[Photo]:
    return sorted(photos, key=lambda photo: len(photo.data))[:count]


def nearest(photos: list[Photo], size: int) -> Photo:
    """The photo whose file is nearest `size` bytes."""
    return min(photos, key=lambda photo: abs(len(photo.data) - size))


def _is_hevc(path: Path) -> bool:
    try:
        image = pyvips.Image.new_from_file(str(path))  # the header only
    except pyvips.Error as exc:
        raise BenchError(f"libvips cannot read {path}: {exc}") from exc
    return bool(image.get_typeof("heif-compression")) and image.get("heif-compression") == "hevc"

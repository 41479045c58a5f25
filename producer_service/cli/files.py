"""Which files a run submits, and the folder each one's outputs are written to."""

import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

from shared.variants import OutputFormat

EXTENSIONS = {
    OutputFormat.JPEG: "jpg",
    OutputFormat.PNG: "png",
    OutputFormat.WEBP: "webp",
    OutputFormat.AVIF: "avif",
}


def collect(paths: Sequence[Path]) -> list[Path]:
    """Each file given, and every file under each folder given (recursively, in path order,
    hidden files and folders left out); a file reached twice is sent once."""
    found: dict[Path, Path] = {}
    for path in paths:
        for file in sorted(walk(path)) if path.is_dir() else [path]:
            found.setdefault(file.resolve(), file)
    return list(found.values())


def walk(folder: Path) -> Iterator[Path]:
    """The files under `folder` whose path has no part starting with a dot."""
    for root, folders, names in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]
        yield from (Path(root, name) for name in names if not name.startswith("."))


def output_folders(files: Sequence[Path], out: Path) -> list[Path]:
    """`out/<stem>` for each file. Files whose stems match (ignoring case, for case-insensitive
    disks) are ordered by path: the first keeps `<stem>`, the next get `<stem>-2`, `<stem>-3`..."""
    by_stem: defaultdict[str, list[Path]] = defaultdict(list)
    for file in files:
        by_stem[file.stem.casefold()].append(file)
    taken = set(by_stem)
    names: dict[Path, str] = {}
    for _, same in sorted(by_stem.items()):
        first, *others = sorted(same)
        names[first] = first.stem
        number = 2
        for other in others:
            while f"{first.stem}-{number}".casefold() in taken:
                number += 1
            names[other] = f"{first.stem}-{number}"
            taken.add(names[other].casefold())
    return [out / names[file] for file in files]


def output_file(folder: Path, name: str, output_format: OutputFormat) -> Path:
    return folder / f"{name}.{EXTENSIONS[output_format]}"

"""Which files (and URLs) a run submits, and the folder each one's outputs are written to."""

import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from shared.variants import OutputFormat

EXTENSIONS = {
    OutputFormat.JPEG: "jpg",
    OutputFormat.PNG: "png",
    OutputFormat.WEBP: "webp",
    OutputFormat.AVIF: "avif",
}


# What a run submits: a file, or an http(s) URL the service fetches (sent as `source_url`).
Input = Path | str


def as_input(argument: str) -> Input:
    """An argument as the run takes it: an http(s) URL as it is, anything else a path."""
    if argument.lower().startswith(("http://", "https://")):
        return argument
    return Path(argument)


def collect(inputs: Sequence[Input]) -> list[Input]:
    """Each file or URL given, and every file under each folder given (recursively, in path
    order, hidden files and folders left out); a file or URL reached twice is sent once."""
    found: dict[Path | str, Input] = {}
    for given in inputs:
        if isinstance(given, str):
            found.setdefault(given, given)
            continue
        for file in sorted(walk(given)) if given.is_dir() else [given]:
            found.setdefault(file.resolve(), file)
    return list(found.values())


def stem(given: Input) -> str:
    """A file's name without its extension; of a URL, its path's last part's (or its host)."""
    if isinstance(given, Path):
        return given.stem
    url = urlsplit(given)
    return PurePosixPath(url.path).stem or url.hostname or "image"


def _order(given: Input) -> tuple[int, tuple[str, ...]]:
    """Files in path order, then URLs."""
    return (0, given.parts) if isinstance(given, Path) else (1, (given,))


def walk(folder: Path) -> Iterator[Path]:
    """The files under `folder` whose path has no part starting with a dot."""
    for root, folders, names in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]
        yield from (Path(root, name) for name in names if not name.startswith("."))


def output_folders(files: Sequence[Input], out: Path) -> list[Path]:
    """`out/<stem>` for each file. Files whose stems match (ignoring case, for case-insensitive
    disks) are ordered by path: the first keeps `<stem>`, the next get `<stem>-2`, `<stem>-3`..."""
    by_stem: defaultdict[str, list[Input]] = defaultdict(list)
    for file in files:
        by_stem[stem(file).casefold()].append(file)
    taken = set(by_stem)
    names: dict[Input, str] = {}
    for _, same in sorted(by_stem.items()):
        first, *others = sorted(same, key=_order)
        names[first] = stem(first)
        number = 2
        for other in others:
            while f"{stem(first)}-{number}".casefold() in taken:
                number += 1
            names[other] = f"{stem(first)}-{number}"
            taken.add(names[other].casefold())
    return [out / names[file] for file in files]


def output_file(folder: Path, name: str, output_format: OutputFormat) -> Path:
    return folder / f"{name}.{EXTENSIONS[output_format]}"

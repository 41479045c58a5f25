"""The command line: which sections to run and how much work each does; `--smoke` is a tiny run."""

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.settings import default_settings

SECTIONS = ("limits", "service", "latency", "ceiling", "memory")
DEFAULT_CORPUS = Path(__file__).resolve().parent / "corpus"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
# Enough to run every section once, for the smoke test.
SMOKE = {"photos": 2, "passes": 1, "latency_requests": 20, "ceiling_jobs": 20, "memory_jobs": 10}


@dataclass(frozen=True)
class Options:
    corpus: Path
    # Only the N smallest photos of the corpus (--smoke); None for all of them.
    photos: int | None
    passes: int
    threads: int
    rate: float
    latency_requests: int
    ceiling_jobs: int
    memory_jobs: int
    sections: tuple[str, ...]
    amqp_url: str
    output: Path | None

    @property
    def needs_service(self) -> bool:
        return any(section != "limits" for section in self.sections)


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = _parser()
    # --smoke changes the defaults; options given explicitly still win.
    if parser.parse_known_args(argv)[0].smoke:
        parser.set_defaults(**SMOKE)
    args = parser.parse_args(argv)
    chosen = set(args.only)
    # The busy latency run sizes its backlog from the service's measured rate.
    if "latency" in chosen:
        chosen.add("service")
    return Options(
        corpus=args.corpus,
        photos=args.photos,
        passes=args.passes,
        threads=args.threads,
        rate=args.rate,
        latency_requests=args.latency_requests,
        ceiling_jobs=args.ceiling_jobs,
        memory_jobs=args.memory_jobs,
        sections=tuple(section for section in SECTIONS if section in chosen),
        amqp_url=args.amqp_url,
        output=args.output,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Measure the image resize service on this machine."
    )
    add = parser.add_argument
    add(
        "--corpus",
        type=Path,
        default=DEFAULT_CORPUS,
        help="a folder of images (default: %(default)s)",
    )
    add("--passes", type=_positive, default=2, help="times over the corpus (default: %(default)s)")
    add(
        "--threads",
        type=_positive,
        default=default_settings().worker_concurrency,
        help="threads of the limits loops (default: the worker's concurrency, %(default)s)",
    )
    add(
        "--rate",
        type=_positive_float,
        default=20.0,
        help="latency requests per second (default: %(default)s)",
    )
    add(
        "--latency-requests",
        type=_positive,
        default=200,
        help="per latency run (default: %(default)s)",
    )
    add("--ceiling-jobs", type=_positive, default=500, help="tiny jobs (default: %(default)s)")
    add("--memory-jobs", type=_positive, default=2000, help="corpus jobs (default: %(default)s)")
    add(
        "--only",
        type=_sections,
        default=list(SECTIONS),
        metavar="SECTION,...",
        help=f"some of {','.join(SECTIONS)} (latency runs service too)",
    )
    add(
        "--smoke",
        action="store_true",
        help="a tiny run: " + ", ".join(f"{k} {v}" for k, v in SMOKE.items()),
    )
    add(
        "--amqp-url",
        default=os.environ.get("AMQP_URL", DEFAULT_AMQP_URL),
        help=f"the broker (default: $AMQP_URL or {DEFAULT_AMQP_URL})",
    )
    add("--output", type=Path, help="also write the table to this file")
    parser.set_defaults(photos=None)
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def _sections(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SECTIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {','.join(SECTIONS)}, not {text!r}")
    return names

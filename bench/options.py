"""The command line: which sections to run and how much work each does; `--smoke` is a tiny run."""

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.postgres import REPORTED_WITHIN_SECONDS
from bench.settings import default_settings
from shared.settings import SERVICE_VARIABLES

SECTIONS = (
    "limits",
    "service",
    "latency",
    "ceiling",
    "steady",
    "memory",
    "bombs",
    "encoders",
    "api",
    "broker",
    "lanes",
    "tracing",
)
DEFAULT_CORPUS = Path(__file__).resolve().parent / "corpus"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
# Enough to run every section once, for the smoke test.
SMOKE = {
    "photos": 2,
    "passes": 1,
    "latency_requests": 20,
    "ceiling_jobs": 20,
    "memory_jobs": 10,
    "bomb_side": 1000,
    "encoder_pixels": 1_000_000,
    "steady_jobs": 4,
    "api_requests": 20,
    "broker_messages": 50,
    "lanes_bulk": 12,
    "lanes_interactive": 3,
    "lanes_first": 10,
    "lanes_second": 2,
    "tracing_rounds": 1,
    "postgres_report_wait": 0.5,
}


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
    # Corpus jobs in `steady`, submitted `steady_rate` a second.
    steady_jobs: int
    steady_rate: float
    # Side of the bombs under the limits; None: the largest MAX_INPUT_PIXELS lets through.
    bomb_side: int | None
    # Pixels of each output in `encoders`; None: MAX_OUTPUT_PIXELS.
    encoder_pixels: int | None
    # Submits, then as many status reads, in `api`.
    api_requests: int
    # Tasks published per queue type and publishes in flight, in `broker`.
    broker_messages: int
    # In `lanes`: the bulk backlog, the interactive jobs alone and behind it, and the two
    # keys' backlogs (the first queued first).
    lanes_bulk: int
    lanes_interactive: int
    lanes_first: int
    lanes_second: int
    # Rounds of `tracing`, each deploying with tracing off and on.
    tracing_rounds: int
    sections: tuple[str, ...]
    amqp_url: str
    # The server `api` makes a job store database of its own on; None: SQLite, as elsewhere.
    postgres_url: str | None
    # Seconds `api` waits for PostgreSQL's statistics after each phase (bench/postgres.py).
    postgres_report_wait: float
    output: Path | None
    # --set NAME=VALUE: the service's settings and environment variables that differ from its
    # defaults (WORKER_CONCURRENCY=2, VIPS_CONCURRENCY=1, MALLOC_ARENA_MAX=4).
    service_env: dict[str, str]

    @property
    def needs_service(self) -> bool:
        return any(section != "limits" for section in self.sections)

    @property
    def setting_overrides(self) -> dict[str, str]:
        return setting_overrides(self.service_env)

    @property
    def extra_env(self) -> dict[str, str]:
        """The other `--set` names: environment the processes (libvips, glibc) read."""
        return {k: v for k, v in self.service_env.items() if k not in SERVICE_VARIABLES}


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = _parser()
    # --smoke changes the defaults; options given explicitly still win.
    if parser.parse_known_args(argv)[0].smoke:
        parser.set_defaults(**SMOKE)
    args = parser.parse_args(argv)
    service_env = dict(args.service_env)
    if args.threads is None:  # the limits loops get the worker's job-level thread budget
        args.threads = default_settings(**setting_overrides(service_env)).worker_concurrency
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
        steady_jobs=args.steady_jobs,
        steady_rate=args.steady_rate,
        bomb_side=args.bomb_side,
        encoder_pixels=args.encoder_pixels,
        api_requests=args.api_requests,
        broker_messages=args.broker_messages,
        lanes_bulk=args.lanes_bulk,
        lanes_interactive=args.lanes_interactive,
        lanes_first=args.lanes_first,
        lanes_second=args.lanes_second,
        tracing_rounds=args.tracing_rounds,
        sections=tuple(section for section in SECTIONS if section in chosen),
        amqp_url=args.amqp_url,
        postgres_url=args.postgres_url,
        postgres_report_wait=args.postgres_report_wait,
        output=args.output,
        service_env=service_env,
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
        help="threads of the limits loops (default: the worker's concurrency, "
        f"{default_settings().worker_concurrency} unless --set WORKER_CONCURRENCY=N)",
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
        "--bomb-side",
        type=_positive,
        help="side of the square bombs under the pixel limit (default: the largest it allows)",
    )
    add(
        "--encoder-pixels",
        type=_positive,
        help="pixels of each output in encoders (default: MAX_OUTPUT_PIXELS)",
    )
    add("--steady-jobs", type=_positive, default=150, help="corpus jobs (default: %(default)s)")
    add(
        "--steady-rate",
        type=_positive_float,
        default=3.0,
        help="steady corpus jobs per second (default: %(default)s)",
    )
    add(
        "--api-requests",
        type=_positive,
        default=1000,
        help="submits, then as many status reads, in api (default: %(default)s)",
    )
    add(
        "--broker-messages",
        type=_positive,
        default=5000,
        help="tasks per queue type and publishes in flight, in broker (default: %(default)s)",
    )
    add("--lanes-bulk", type=_positive, default=2000, help="bulk backlog (default: %(default)s)")
    add(
        "--lanes-interactive",
        type=_positive,
        default=50,
        help="interactive jobs, idle and behind the backlog (default: %(default)s)",
    )
    add(
        "--lanes-first",
        type=_positive,
        default=1000,
        help="key A's bulk jobs, queued first (default: %(default)s)",
    )
    add(
        "--lanes-second",
        type=_positive,
        default=100,
        help="key B's bulk jobs, queued after A's (default: %(default)s)",
    )
    add(
        "--tracing-rounds",
        type=_positive,
        default=3,
        help="rounds of tracing, each with it off and on (default: %(default)s)",
    )
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
        help=f"the broker (default: $AMQP_URL or {DEFAULT_AMQP_URL}); a comma-separated "
        "list of a cluster's nodes: broker publishes to the first",
    )
    add(
        "--postgres-url",
        help="a PostgreSQL server (SQLAlchemy URL of any database on it) where api makes a job "
        "store of its own and counts its writes (default: SQLite)",
    )
    add(
        "--postgres-report-wait",
        type=_positive_float,
        default=REPORTED_WITHIN_SECONDS,
        metavar="SECONDS",
        help="how long api waits for PostgreSQL's statistics after each phase; less than "
        "its 10 s idle report may miss writes (default: %(default)s)",
    )
    add(
        "--set",
        dest="service_env",
        type=_assignment,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting or environment variable for the API and worker, repeatable; "
        "VIPS_CONCURRENCY applies to the limits loops too",
    )
    add("--output", type=Path, help="also write the table to this file")
    parser.set_defaults(photos=None, bomb_side=None, encoder_pixels=None)
    return parser


def first_node(amqp_url: str) -> str:
    """The first of a comma-separated list of a cluster's nodes (or the one URL)."""
    return amqp_url.partition(",")[0].strip()


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


def _assignment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, not {text!r}")
    return name, value


def setting_overrides(service_env: dict[str, str]) -> dict[str, str]:
    """The names the service reads as its settings, as `Settings` fields."""
    return {k.lower(): v for k, v in service_env.items() if k in SERVICE_VARIABLES}


def _sections(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SECTIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {','.join(SECTIONS)}, not {text!r}")
    return names

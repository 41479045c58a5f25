"""The one settings class both services read, from the environment and an optional `.env`."""

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AliasChoices,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from yarl import URL

from shared.logs import LogFormat, redact


class Settings(BaseSettings):
    """Every knob of the service. Build it with `Settings()` in `__main__`, never at import time."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        # `DATABASE_URL=` (compose's `${DATABASE_URL:-}`, an empty line in .env) means unset.
        env_ignore_empty=True,
        extra="ignore",
        populate_by_name=True,
        frozen=True,
        # Several settings hold credentials (AMQP_URL, DATABASE_URL, ...): an error names the
        # setting and what is wrong, never echoes the value.
        hide_input_in_errors=True,
    )

    amqp_url: str = Field(
        default="amqp://guest:guest@localhost:5672/",
        validation_alias=AliasChoices("AMQP_URL", "CLOUDAMQP_URL"),
        description="Broker URL, or the comma-separated URLs of one cluster's nodes; "
        "CLOUDAMQP_URL is read when AMQP_URL is unset.",
    )
    queue_name: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[\w.:-]+$")] = (
        "image_resize"
    )
    data_dir: Path = Path("./data")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the job store; defaults to SQLite in DATA_DIR.",
    )
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    # Comma-separated; a secret, so it never shows in a repr or a log line.
    api_keys: SecretStr | None = Field(
        default=None,
        description="API keys (comma-separated, several for rotation); unset: no keys needed.",
    )
    max_active_jobs_per_key: PositiveInt | None = Field(
        default=None,
        description="Queued + processing jobs one API key (without keys: the service) may hold.",
    )
    cors_origins: str | None = Field(
        default=None,
        description="Origins (comma-separated, exact) whose browser pages may call the API.",
    )
    job_retention_hours: PositiveFloat | None = Field(
        default=None,
        description="Finished jobs, their original and outputs are deleted this long after "
        "they finished; unset: kept until deleted.",
    )
    presets_file: Path | None = Field(
        default=None,
        description="A JSON or YAML file of presets ({name: [variant, ...]}) added to the "
        "built-in ones; a name in it replaces the built-in of that name.",
    )
    presets_only: bool = Field(
        default=False, description="A submit must name a `preset`; ad-hoc `variants` get 422."
    )

    # Completion webhooks (docs/webhooks.md). The secret signs every delivery, as UTF-8
    # bytes; a submit with `callback_url` is refused while it is unset.
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="Signing secret of completion webhooks; required to use `callback_url`.",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Allow webhook targets on loopback, private and link-local addresses, "
        "and over http:// (tests, internal deployments).",
    )
    # Tries of one delivery: the first at once, retry n after up to base * 4**(n-1) seconds,
    # capped, each wait a broker delay tier. The defaults span 1.5 to 3 hours (jitter).
    webhook_max_attempts: PositiveInt = 8
    webhook_retry_base_seconds: PositiveFloat = 10.0
    webhook_retry_max_delay_seconds: PositiveFloat = 3600.0
    # One try, from resolving the host to the answer's last byte.
    webhook_timeout_seconds: PositiveFloat = 10.0
    # Deliveries one API replica makes at once (the prefetch of its webhook consumer).
    webhook_concurrency: PositiveInt = 16

    # Images fetched from a submit's `source_url` by the worker (docs/source-urls.md), through
    # the same address guard as webhooks; the size limit is MAX_UPLOAD_BYTES.
    source_url_allow_private: bool = Field(
        default=False,
        description="Allow `source_url` on loopback, private and link-local addresses, and "
        "over http:// (tests, internal deployments).",
    )
    # Connecting to one address; and the whole fetch, redirects and body included.
    source_url_connect_timeout_seconds: PositiveFloat = 5.0
    source_url_timeout_seconds: PositiveFloat = 30.0

    # Where originals and outputs live (docs/operations.md, "Storage in S3"). The S3 settings
    # are read only with an s3:// STORAGE_URL; the AWS_* ones, left unset, fall to botocore's
    # own lookup (~/.aws, an instance role).
    storage_url: str | None = Field(
        default=None,
        description="Unset: originals and outputs under DATA_DIR; `s3://bucket/prefix`: in "
        "S3-compatible storage.",
    )
    s3_endpoint_url: Annotated[str, Field(pattern=r"^https?://[^/]+")] | None = Field(
        default=None, description="The S3-compatible server (MinIO, ...); unset: AWS S3."
    )
    aws_region: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: SecretStr | None = None

    @field_validator("amqp_url")
    @classmethod
    def _amqp_url_lists_nodes(cls, url: str) -> str:
        parse_amqp_urls(url)
        return url

    @property
    def amqp_urls(self) -> tuple[str, ...]:
        """The broker's nodes AMQP_URL lists, in its order (one for a single broker)."""
        return parse_amqp_urls(self.amqp_url)

    @field_validator("storage_url")
    @classmethod
    def _storage_url_is_s3(cls, url: str | None) -> str | None:
        if url is not None:
            parse_storage_url(url)
        return url

    @property
    def s3_location(self) -> tuple[str, str] | None:
        """The bucket and key prefix STORAGE_URL names; None for files under DATA_DIR."""
        return None if self.storage_url is None else parse_storage_url(self.storage_url)

    # Measured on 2 cores with make bench (docs/benchmarks.md, "Tuning"): 1 job at once gave
    # 2.52 jobs/s, 2 gave 3.83, 4 gave 3.93 and 8 gave 4.17, within noise from 2 on; 4 keeps a
    # core busy while another job waits on the disk or the broker.
    worker_concurrency: PositiveInt = 4
    # Every durable queue: quorum queues are replicated over a RabbitMQ cluster's nodes
    # (docs/operations.md, "Classic or quorum queues").
    queue_type: Literal["classic", "quorum"] = "classic"
    max_attempts: PositiveInt = 5
    # Backoff before retry n is up to base * 2**(n-1) seconds, capped; each delay is a broker queue.
    retry_base_delay_seconds: PositiveFloat = 2.0
    retry_max_delay_seconds: PositiveFloat = 300.0
    # New submissions beyond this many waiting jobs are refused with 503 (x-max-length).
    max_queued_jobs: PositiveInt = 10_000
    job_timeout_seconds: PositiveFloat = 60.0
    max_upload_bytes: PositiveInt = 50 * 1024 * 1024
    max_input_pixels: PositiveInt = 100_000_000
    # Pages of a multi-page TIFF or frames of an animated GIF/WebP, counted from the header: a
    # long animation is a few hundred frames; a file of 10^5 tiny frames only costs time to read.
    max_input_pages: PositiveInt = 1000
    # All outputs of one job together. 40 MP holds a full-size 24 MP rendition and its
    # thumbnails (the default variants of a 24 MP photo make 2.3 MP), and refuses what only
    # costs: one 8192x8192 upscaled PNG is 67 MP, a 45 MB file and 5 s of a core.
    max_output_pixels: PositiveInt = 40_000_000

    # How long the API waits for the broker's confirm before it answers 503 (well inside the
    # 5 s a client should wait for any answer).
    publish_timeout_seconds: PositiveFloat = 3.0
    # The longest the API waits on the job store (a lock, a connection, a statement) before it
    # answers 503; its queries are index lookups that take milliseconds.
    database_timeout_seconds: PositiveFloat = 2.0
    # Connections each API process keeps open to PostgreSQL, and how many more it may open at a
    # peak (closed when returned). Replicas x processes x (size + overflow) must stay under the
    # server's max_connections (100 by default). SQLite ignores both.
    database_pool_size: PositiveInt = 5
    database_max_overflow: NonNegativeInt = 5
    # How long a stopping worker lets running jobs finish before it requeues them; at least
    # JOB_TIMEOUT_SECONDS, so a shutdown never cuts short an attempt that would have finished.
    shutdown_timeout_seconds: PositiveFloat = 60.0
    log_level: str = "INFO"
    # Where both services export OpenTelemetry traces over OTLP/HTTP (`{this}/v1/traces`);
    # unset: no tracing at all. The SDK reads the other OTEL_* variables itself.
    otel_exporter_otlp_endpoint: str | None = None
    # `json`: one JSON object per line (time, level, logger, message, job_id, attempt, exc_info).
    log_format: LogFormat = "text"
    # Touched every few seconds while the worker is connected; container healthchecks read it.
    worker_heartbeat_file: Path | None = None
    # Memory one worker's running jobs may hold together (see shared/job_memory): two 100 MP
    # sources that must be decoded whole (interlaced PNG, progressive JPEG) at once, so the
    # worker stays near 1.1 GiB whatever arrives, while ordinary photos run side by side. A job
    # needing more than all of it is refused (422 at submit; failed `too_much_memory` on a
    # worker with a smaller budget than the API's).
    worker_memory_mb: PositiveInt = 1024
    # The worker's CPU priority below the API's (Unix nice, 0-19; see worker_service/priority).
    worker_nice: int = Field(default=10, ge=0, le=19)
    # Where the worker serves Prometheus metrics (on every interface, so a scraper in another
    # container reaches it); unset: no metrics server. The API serves /metrics on its own port.
    metrics_port: Annotated[int, Field(ge=1, le=65535)] | None = None

    def as_environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` with these settings in place of any it had: the environment that makes a
        service started as `python -m ...` read exactly these settings."""
        env = {name: value for name, value in base.items() if name not in SERVICE_VARIABLES}
        for name, value in self.model_dump().items():
            plain = value.get_secret_value() if isinstance(value, SecretStr) else value
            if plain is not None:
                env[name.upper()] = str(plain)
        return env

    @property
    def api_key_list(self) -> list[str]:
        """The keys in API_KEYS, blanks dropped; empty when keys are off."""
        if self.api_keys is None:
            return []
        return _comma_separated(self.api_keys.get_secret_value())

    @property
    def cors_origin_list(self) -> list[str]:
        return [] if self.cors_origins is None else _comma_separated(self.cors_origins)

    @property
    def job_store_url(self) -> str:
        """The SQLAlchemy URL of the job store, with the store's driver filled in."""
        if self.database_url is None:
            return f"sqlite+pysqlite:///{self.data_dir.resolve() / 'jobs.db'}"
        return driver_url(self.database_url)


# The job store runs PostgreSQL on asyncpg, and SQLite on Python's sqlite3 in threads (see
# producer_service/database.py), whichever driver a URL names.
_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "sqlite": "sqlite+pysqlite",
    "sqlite+aiosqlite": "sqlite+pysqlite",
}


# S3's rules for new bucket names: 3-63 lowercase letters, digits, dots and hyphens.
_STORAGE_URL = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?")


def parse_storage_url(url: str) -> tuple[str, str]:
    """`s3://bucket[/prefix]` as (bucket, prefix), the prefix empty or ending in `/`."""
    match = _STORAGE_URL.fullmatch(url)
    if match is None:
        raise ValueError(
            f"STORAGE_URL must be s3://bucket or s3://bucket/prefix (unset: DATA_DIR), not {url!r}"
        )
    parts = [part for part in (match["prefix"] or "").split("/") if part]
    if any(part in (".", "..") for part in parts):
        raise ValueError(f"STORAGE_URL's prefix may not contain . or .. parts: {url!r}")
    return match["bucket"], "".join(f"{part}/" for part in parts)


def parse_amqp_urls(text: str) -> tuple[str, ...]:
    """The `amqp://` or `amqps://` URLs of a comma-separated list; a `ValueError` names a bad
    entry with its password hidden (pydantic would otherwise echo the whole value)."""
    urls = tuple(_comma_separated(text))
    if not urls:
        raise ValueError("AMQP_URL is empty: give one broker URL or a cluster's node URLs")
    for position, url in enumerate(urls, 1):
        try:
            parsed = URL(url)
            parsed.explicit_port  # noqa: B018 - raises for a port that is not a number
            valid = parsed.scheme in ("amqp", "amqps") and bool(parsed.host)
        except ValueError:
            valid = False
        if not valid:
            raise ValueError(
                f"AMQP_URL entry {position} ({redact(url)}) is not an amqp:// or amqps:// URL "
                "with a host"
            )
    return urls


def _comma_separated(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


# Every environment variable a service reads its settings from.
SERVICE_VARIABLES = frozenset([*(name.upper() for name in Settings.model_fields), "CLOUDAMQP_URL"])


def driver_url(url: str) -> str:
    """Map a plain `postgresql://` or `sqlite://` URL to the store's driver; keep other ones."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a database URL: {url!r}")
    return f"{_DRIVERS.get(scheme, scheme)}://{rest}"

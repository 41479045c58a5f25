"""Process-wide logging for both services: one line per record, to stderr, as text for people
or as one JSON object per line (`LOG_FORMAT=json`) for a log collector.

Every line about a job carries `job_id` and `attempt` (from `shared.log_context`), in JSON as
fields and in text as `job <id> attempt <n>:` before the message; with tracing on, a JSON line
logged in a span also carries its `trace_id`. No credential reaches a line:
a broker or database URL with a password (in a message, an exception, a traceback) is written
with the password replaced, whoever logged it. libvips' warnings come as one line each, and
aio-pika's records of a broker outage give way to the two lines of `shared.outages`.
"""

import json
import logging
import re
from datetime import UTC, datetime
from typing import Literal, TextIO

from shared.log_context import current_job, sole_job_in_threads
from shared.outages import BrokerNoise
from shared.tracing import trace_id

_CREDENTIALS = re.compile(r"(?P<prefix>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):[^@\s/]*@")
REDACTED = "***"

LogFormat = Literal["text", "json"]


def redact(text: str) -> str:
    """`text` with the password of every `scheme://user:password@host` URL replaced."""
    return _CREDENTIALS.sub(rf"\g<prefix>:{REDACTED}@", text)


class JobFields(logging.Filter):
    """Gives every record `job_id` and `attempt`: those of the job the code that logged it is
    about, or None; and `trace_id`, the trace of the span it was logged in (with tracing on).
    A record that brought its own (`extra=`) keeps them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "job_id"):
            job = current_job()
            record.job_id = job.job_id if job else None
            record.attempt = job.attempt if job else None
        if not hasattr(record, "trace_id"):
            record.trace_id = trace_id()
        return True


class LibvipsLines(logging.Filter):
    """libvips' messages (logger `pyvips`) as one line each, without GLib's domain prefix;
    empty ones dropped. A warning from one of libvips' own threads has no job context: it is
    put on the job running in a worker thread when there is exactly one."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage().removeprefix("VIPS:")
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if not lines:
            return False
        record.msg, record.args = "; ".join(lines), ()
        job = current_job() or sole_job_in_threads()
        if job is not None:
            record.job_id, record.attempt = job.job_id, job.attempt
        return True


def _about(record: logging.LogRecord) -> str:
    job_id = getattr(record, "job_id", None)
    if job_id is None:
        return ""
    attempt = getattr(record, "attempt", None)
    return f"job {job_id}: " if attempt is None else f"job {job_id} attempt {attempt}: "


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: [job <id> attempt <n>: ]message`; a newline in the message is
    written `\\n`, so no message spans lines. A traceback follows on lines of its own."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        message = record.message.rstrip("\n").replace("\n", "\\n")
        time = self.formatTime(record)
        return f"{time} {record.levelname} {record.name}: {_about(record)}{message}"

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: `time` (ISO 8601, UTC), `level`, `logger`,
    `message`, then `job_id` and `attempt` when about a job, `trace_id` (32 hex digits) when
    logged in a traced span, and `exc_info` (the traceback, as one string) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for field in ("job_id", "attempt", "trace_id"):
            if getattr(record, field, None) is not None:
                entry[field] = getattr(record, field)
        if record.exc_info:
            entry["exc_info"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack_info"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def _utc(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
    return moment.replace("+00:00", "Z")


def log_handler(log_format: LogFormat, stream: TextIO | None = None) -> logging.Handler:
    """Writes records to `stream` (stderr) in `log_format`, job fields added, broker noise not."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(JobFields())
    handler.addFilter(BrokerNoise())
    return handler


def configure_logging(level: str, log_format: LogFormat) -> None:
    logging.basicConfig(level=level.upper(), handlers=[log_handler(log_format)])
    vips = logging.getLogger("pyvips")
    # libvips reports every step of every resize at INFO; only its warnings are news.
    vips.setLevel(logging.WARNING)
    vips.addFilter(LibvipsLines())

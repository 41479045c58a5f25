"""Log lines: one per record, as text or JSON, carrying the job they are about and no credential,
whoever logs them and however (message, argument, traceback, another thread)."""

import io
import json
import logging
import sys
import threading
import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
from aio_pika.abc import AbstractRobustConnection
from aio_pika.tools import CallbackCollection
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import format_trace_id

from producer_service.metrics import ApiMetrics
from shared.log_context import about_job, bind_job, in_worker_thread
from shared.logs import LibvipsLines, LogFormat, TextFormatter, log_handler, redact
from shared.outages import BrokerNoise, OutageLog
from worker_service.metrics import WorkerMetrics

JOB = "5b0e6f0c-3f7e-4c39-9d8e-0f6c8f8ad7a4"


class Captured:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    def objects(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


def capture(log_format: LogFormat) -> Iterator[tuple[logging.Logger, Captured]]:
    stream = io.StringIO()
    handler = log_handler(log_format, stream)
    logger = logging.getLogger(f"tests.logs.{uuid.uuid4().hex}")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, Captured(stream)
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def json_log() -> Iterator[tuple[logging.Logger, Captured]]:
    yield from capture("json")


@pytest.fixture
def text_log() -> Iterator[tuple[logging.Logger, Captured]]:
    yield from capture("text")


def test_passwords_in_urls_are_redacted_and_the_rest_kept() -> None:
    text = "amqp://resize:s3cret@rabbitmq:5672/ and postgresql://app:p%40ss@db/jobs, http://host/x"
    assert redact(text) == (
        "amqp://resize:***@rabbitmq:5672/ and postgresql://app:***@db/jobs, http://host/x"
    )


def test_a_text_line_and_its_traceback_carry_no_password() -> None:
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "connecting to %s", ("amqp://u:hunter2@b/",), None
    )
    try:
        raise ConnectionError("cannot reach amqp://guest:hunter2@broker:5672/")
    except ConnectionError:
        record.exc_info = sys.exc_info()
    line = TextFormatter().format(record)
    assert "hunter2" not in line
    assert "amqp://u:***@b/" in line
    assert "amqp://guest:***@broker:5672/" in line


def test_a_json_line_is_one_object_with_the_fields_and_the_traceback_inside(
    json_log: tuple[logging.Logger, Captured],
) -> None:
    logger, log = json_log
    with about_job(JOB, 2):
        try:
            raise ConnectionError("cannot reach amqp://guest:hunter2@broker:5672/")
        except ConnectionError:
            logger.exception("publish to %s failed", "amqp://u:hunter2@b/")
    (line,) = log.lines
    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert entry["logger"] == logger.name
    assert entry["message"] == "publish to amqp://u:***@b/ failed"
    assert (entry["job_id"], entry["attempt"]) == (JOB, 2)
    assert entry["time"].endswith("Z")
    assert entry["exc_info"].startswith("Traceback (most recent call last):")
    assert "ConnectionError: cannot reach amqp://guest:***@broker:5672/" in entry["exc_info"]
    assert "hunter2" not in line


def test_a_line_about_no_job_has_no_job_fields(json_log: tuple[logging.Logger, Captured]) -> None:
    logger, log = json_log
    logger.info("consuming %s", "image_resize")
    (entry,) = log.objects()
    assert set(entry) == {"time", "level", "logger", "message"}


def test_a_json_line_logged_in_a_traced_span_carries_its_trace_id(
    json_log: tuple[logging.Logger, Captured],
) -> None:
    logger, log = json_log
    tracer = TracerProvider().get_tracer("tests")
    with tracer.start_as_current_span("resize.attempt") as span:
        logger.info("resized")
    logger.info("outside")
    inside, outside = log.objects()
    assert inside["trace_id"] == format_trace_id(span.get_span_context().trace_id)
    assert len(inside["trace_id"]) == 32
    assert "trace_id" not in outside


def test_job_fields_come_from_the_context_of_the_code_that_logs(
    json_log: tuple[logging.Logger, Captured],
) -> None:
    logger, log = json_log

    def delivery() -> None:
        bind_job(JOB, 3)
        logger.info("processing")

    # A thread runs in a context of its own, as each delivery's task does.
    thread = threading.Thread(target=delivery)
    thread.start()
    thread.join()
    with about_job(JOB):
        logger.info("accepted")
    logger.info("after")
    processing, accepted, after = log.objects()
    assert (processing["job_id"], processing["attempt"]) == (JOB, 3)
    assert (accepted["job_id"], "attempt" in accepted) == (JOB, False)
    assert "job_id" not in after


def test_text_lines_say_the_job_and_keep_each_message_on_one_line(
    text_log: tuple[logging.Logger, Captured],
) -> None:
    logger, log = text_log
    with about_job(JOB, 1):
        logger.warning("first line\nsecond line\n")
    (line,) = log.lines
    assert line.endswith(f"WARNING {logger.name}: job {JOB} attempt 1: first line\\nsecond line")


def vips_record(message: str) -> logging.LogRecord:
    return logging.LogRecord("pyvips", logging.WARNING, __file__, 1, message, (), None)


def test_a_libvips_warning_becomes_one_line_about_the_job() -> None:
    record = vips_record(
        "VIPS: VipsJpeg: premature end of JPEG image\nVipsJpeg: missing SOS marker\n"
    )
    with about_job(JOB, 1):
        assert LibvipsLines().filter(record)
    assert (
        record.getMessage() == "VipsJpeg: premature end of JPEG image; VipsJpeg: missing SOS marker"
    )
    assert (getattr(record, "job_id", None), getattr(record, "attempt", None)) == (JOB, 1)
    assert not LibvipsLines().filter(vips_record("VIPS: "))


def warning_from_a_libvips_thread() -> logging.LogRecord:
    """A record made as libvips' own threads make theirs: in a thread with no job context."""
    made: list[logging.LogRecord] = []
    thread = threading.Thread(target=lambda: made.append(vips_record("VIPS: error in tile 0 x 8")))
    thread.start()
    thread.join()
    assert LibvipsLines().filter(made[0])
    return made[0]


def test_a_libvips_thread_warning_is_put_on_the_one_job_running_and_on_none_of_two() -> None:
    def run_jobs(*jobs: str) -> logging.LogRecord:
        started, release = threading.Barrier(len(jobs) + 1), threading.Event()

        def work(job: str) -> None:
            with about_job(job, 1), in_worker_thread():
                started.wait()
                release.wait()

        threads = [threading.Thread(target=work, args=(job,)) for job in jobs]
        for thread in threads:
            thread.start()
        started.wait()
        record = warning_from_a_libvips_thread()
        release.set()
        for thread in threads:
            thread.join()
        return record

    alone = run_jobs(JOB)
    assert getattr(alone, "job_id", None) == JOB
    assert getattr(run_jobs(JOB, str(uuid.uuid4())), "job_id", None) is None
    assert getattr(warning_from_a_libvips_thread(), "job_id", None) is None


def library_record(name: str, message: str) -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, message, (), None)


def test_broker_libraries_announcing_an_outage_are_dropped_and_their_other_records_kept() -> None:
    noise = BrokerNoise()
    assert not noise.filter(
        library_record("aiormq.connection", "error when creating transport: %r")
    )
    assert not noise.filter(
        library_record("aiormq.connection", "Cancelling cause reader exited abnormally")
    )
    assert noise.filter(library_record("aiormq.connection", "Connection %r was blocked by: %r"))
    assert noise.filter(library_record("worker_service.handler", "error when creating transport"))


class FakeConnection:
    """What `OutageLog` watches of a robust connection: aio-pika's own callback collections,
    and the node it is on (its URL, shown the way aio-pika does, password hidden)."""

    def __init__(self) -> None:
        self.url = "amqp://guest:******@node1:5672/?reconnect_interval=1"
        self.close_called = False
        self.close_callbacks: CallbackCollection[Any, Any] = CallbackCollection(self)
        self.reconnect_callbacks: CallbackCollection[Any, Any] = CallbackCollection(self)

    def __str__(self) -> str:
        return self.url


async def test_an_outage_is_one_warning_and_one_recovery_and_the_tries_between_are_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    connection = FakeConnection()
    OutageLog().watch(cast(AbstractRobustConnection, connection))
    noise, retry = BrokerNoise(), library_record("aio_pika.robust_connection", "attempt failed")
    with caplog.at_level(logging.INFO, logger="shared.outages"):
        await connection.close_callbacks(ConnectionResetError(104, "Connection reset by peer"))
        for _ in range(3):  # the reconnect tries, each a connection that closes again
            await connection.close_callbacks(ConnectionRefusedError(111, "Connection refused"))
            assert not noise.filter(retry)
        connection.url = "amqp://guest:******@node2:5673/"  # back on another node
        await connection.reconnect_callbacks()
        connection.close_called = True
        await connection.close_callbacks(None)  # closed by its owner: no outage
    lost, back = caplog.records
    assert (lost.levelname, back.levelname) == ("WARNING", "INFO")
    assert lost.getMessage() == (
        "broker connection lost (ConnectionResetError: [Errno 104] Connection reset by peer) "
        "at node1:5672; reconnecting"
    )
    assert back.getMessage().startswith("broker connection back after ")
    assert back.getMessage().endswith(" s, at node2:5673")
    assert noise.filter(retry)


async def test_an_outage_is_counted_once_in_both_services_metrics_and_shown_while_on() -> None:
    registries = [ApiMetrics().registry, WorkerMetrics(lambda: 0).registry]

    def figures() -> list[tuple[float | None, float | None]]:
        return [
            (
                registry.get_sample_value("resize_broker_outages_total"),
                registry.get_sample_value("resize_broker_outage_active"),
            )
            for registry in registries
        ]

    before, _ = figures()[0]
    assert before is not None
    connection = FakeConnection()
    OutageLog().watch(cast(AbstractRobustConnection, connection))
    await connection.close_callbacks(ConnectionResetError(104, "Connection reset by peer"))
    await connection.close_callbacks(ConnectionRefusedError(111, "Connection refused"))
    during = figures()
    await connection.reconnect_callbacks()
    after = figures()
    assert during == [(before + 1, 1.0)] * 2
    assert after == [(before + 1, 0.0)] * 2

"""The worker's Prometheus metrics, served on METRICS_PORT (`/metrics`, or any path):

    resize_jobs_total{outcome}                 succeeded, failed, retried, skipped (done before)
    resize_job_failures_total{code}            jobs failed for good, by error code
    resize_job_retries_total{reason}           failed attempts sent to retry, by error code, or
                                               delivery_lost (the worker holding it vanished)
    resize_deliveries_total{settlement}        how deliveries were settled: Ack, DeadLetter,
                                               Forward (a retry, a re-run), Requeue
    resize_job_duration_seconds{outcome}       one attempt, from its thread slot to its result
    resize_variant_render_seconds{format}      one variant, resized and encoded (labelled by
                                               format: variant names are the clients' own)
    resize_jobs_in_flight                      deliveries held: running or waiting for a slot
    resize_source_bytes_total                  originals read
    resize_output_bytes_total{format}          outputs written
    libvips_tracked_*, libvips_open_files      libvips' own memory and files (libvips_memory)
    process_*, python_*                        this process

Counters are thread-safe: the render threads count bytes and variant times themselves.
"""

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from enum import StrEnum

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from shared.metrics import registry_with_process_metrics
from shared.schemas import ErrorCode
from shared.variants import OutputFormat
from worker_service.libvips_memory import watch_libvips_memory
from worker_service.render import Rendered

logger = logging.getLogger(__name__)

# A thumbnail takes milliseconds, a large AVIF seconds; JOB_TIMEOUT_SECONDS (60) ends an attempt.
JOB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120)
VARIANT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
LISTEN_ON = "0.0.0.0"  # a scraper in another container must reach it


class JobOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETRIED = "retried"
    SKIPPED = "skipped"
    # Cancelled before it started, or stopped mid-job (POST /v1/jobs/{id}/cancel).
    CANCELLED = "cancelled"


class WorkerMetrics:
    def __init__(self, in_flight: Callable[[], int]) -> None:
        self.registry = registry_with_process_metrics()
        watch_libvips_memory(self.registry)
        counter = functools.partial(Counter, registry=self.registry)
        histogram = functools.partial(Histogram, registry=self.registry)
        self._jobs = counter("resize_jobs", "Jobs by outcome.", ["outcome"])
        self._failures = counter("resize_job_failures", "Jobs failed for good, by code.", ["code"])
        self._retries = counter(
            "resize_job_retries", "Attempts sent to retry, by reason.", ["reason"]
        )
        self._deliveries = counter("resize_deliveries", "Deliveries by settlement.", ["settlement"])
        self._duration = histogram(
            "resize_job_duration_seconds",
            "One attempt of a job, by outcome (succeeded or failed).",
            ["outcome"],
            buckets=JOB_BUCKETS,
        )
        self._render = histogram(
            "resize_variant_render_seconds",
            "One variant resized and encoded, by output format.",
            ["format"],
            buckets=VARIANT_BUCKETS,
        )
        self._bytes_in = counter("resize_source_bytes", "Originals read.")
        self._bytes_out = counter("resize_output_bytes", "Outputs written, by format.", ["format"])
        Gauge("resize_jobs_in_flight", "Deliveries held.", registry=self.registry).set_function(
            in_flight
        )
        # Series that exist from the start, at 0, so a rate over them is right from the first job.
        for outcome in JobOutcome:
            self._jobs.labels(outcome)
        for output_format in OutputFormat:
            self._render.labels(output_format)
            self._bytes_out.labels(output_format)

    def count(self, outcome: JobOutcome) -> None:
        self._jobs.labels(outcome).inc()

    def failed(self, code: ErrorCode) -> None:
        self.count(JobOutcome.FAILED)
        self._failures.labels(code).inc()

    def retried(self, reason: str) -> None:
        self.count(JobOutcome.RETRIED)
        self._retries.labels(reason).inc()

    def settled(self, settlement: str) -> None:
        self._deliveries.labels(settlement).inc()

    @asynccontextmanager
    async def attempt(self) -> AsyncIterator[None]:
        """Time the attempt run inside; it failed unless it ends without an exception."""
        started = time.perf_counter()
        outcome = JobOutcome.FAILED
        try:
            yield
            outcome = JobOutcome.SUCCEEDED
        finally:
            self._duration.labels(outcome).observe(time.perf_counter() - started)

    def read_source(self, size: int) -> None:
        self._bytes_in.inc(size)

    def wrote(self, output: Rendered) -> None:
        self._render.labels(output.variant.format).observe(output.seconds)
        self._bytes_out.labels(output.variant.format).inc(len(output.data))

    def summary(self) -> dict[str, int]:
        """Jobs by outcome so far, those that happened."""
        counts = {
            outcome.value: self.registry.get_sample_value("resize_jobs_total", {"outcome": outcome})
            for outcome in JobOutcome
        }
        return {outcome: int(count) for outcome, count in counts.items() if count}

    @asynccontextmanager
    async def serving(self, port: int | None) -> AsyncIterator[None]:
        """Serve the metrics on `port` (in a thread of prometheus_client's) while inside;
        nothing when `port` is None."""
        if port is None:
            yield
            return
        server, thread = start_http_server(port, LISTEN_ON, self.registry)
        logger.info("metrics on port %d", port)
        try:
            yield
        finally:
            # shutdown() waits for the serving loop to notice (up to half a second).
            await asyncio.to_thread(server.shutdown)
            server.server_close()
            thread.join()

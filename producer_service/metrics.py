"""The API's Prometheus metrics, one `ApiMetrics` per app, served at `GET /metrics`:

    http_requests_total{method, route, status}        route is the template: /v1/jobs/{job_id}
    http_request_duration_seconds{method, route}      to the end of the body (an SSE stream's too)
    resize_submits_total{outcome, status}             accepted, replayed, or the refusal's type
    resize_publish_confirm_seconds{outcome}           a task's publish until the broker's confirm
    webhook_deliveries_total{outcome}                 webhook tries: delivered, retried, failed
                                                      (for good), dropped (no longer due)
    resize_cancels_total{was}                         jobs cancelled, by what they were then:
                                                      queued or processing
    resize_jobs_current{queue, status}                jobs in the store by status, read at each
                                                      scrape: the same on every replica, so a
                                                      query takes the max across them (KEDA)
    resize_oldest_queued_seconds{queue}               how long the oldest queued job has waited
    resize_queue_messages_ready{queue}                the work queue as the broker sees it, read
    resize_queue_consumers{queue}                     at each scrape (left out when it does not
                                                      answer)
    resize_broker_outages_total, ..._outage_active    lost broker connections (shared.metrics)
    process_*, python_*                               this process (single-process mode only)

With PROMETHEUS_MULTIPROC_DIR set (uvicorn with several worker processes), prometheus_client
keeps every value in a file of that directory, and a scrape of any process sums the files of
all of them. The per-process collectors are left out then: a scrape would describe whichever
process happened to answer it.
"""

import os
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from producer_service.broker.publisher import Publisher, WrappedPublisher
from producer_service.broker.queue_stats import QueueFigures
from producer_service.db.store import JobTally
from producer_service.errors import ApiProblem
from shared.messages import ResizeTask
from shared.metrics import BrokerOutages, registry_with_process_metrics

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
# A confirm takes milliseconds; PUBLISH_TIMEOUT_SECONDS (3 s by default) ends the slow ones.
CONFIRM_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class ApiMetrics:
    def __init__(self) -> None:
        directory = os.environ.get(MULTIPROCESS_DIR)
        self.registry = _exposed_registry(directory)
        # In multiprocess mode the values live in the directory's files, which the collector
        # reads; registering the metrics as well would count them twice.
        own = self.registry if directory is None else None
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=own,
        )
        self.request_duration = Histogram(
            "http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by method and route.",
            ["method", "route"],
            registry=own,
        )
        self.submits = Counter(
            "resize_submits_total",
            "Submits by outcome: accepted, replayed (Idempotency-Key), or the problem type "
            "of a refusal (payload-too-large, queue-full, ...), with the answer's status.",
            ["outcome", "status"],
            registry=own,
        )
        self.publish_confirm = Histogram(
            "resize_publish_confirm_seconds",
            "Time from a task's publish to the broker's confirm (outcome confirmed), or to "
            "the refusal (the problem type: broker-unavailable, queue-full).",
            ["outcome"],
            buckets=CONFIRM_BUCKETS,
            registry=own,
        )

        self.webhook_deliveries = Counter(
            "webhook_deliveries_total",
            "Webhook tries by outcome: delivered (2xx), retried (failed, tried again later), "
            "failed (the last try failed, or the target was refused), dropped (no longer due).",
            ["outcome"],
            registry=own,
        )

        self.cancels = Counter(
            "resize_cancels_total",
            "Jobs cancelled, by their status when the cancel came: queued or processing.",
            ["was"],
            registry=own,
        )

        # Store-wide figures, read for each scrape: yielded by a collector of their own, in
        # multiprocess mode too, since they are no process's own values.
        self._jobs = JobFigures()
        self.registry.register(self._jobs)

    def record_figures(
        self, queue: str, tally: JobTally | None, queue_figures: QueueFigures | None
    ) -> None:
        """What the next collection reports about the store and the work queue; None (that
        one did not answer) leaves its figures out, so a scraper sees none rather than stale
        ones."""
        self._jobs.queue = queue
        self._jobs.tally = tally
        self._jobs.queue_figures = queue_figures

    def count_webhook(self, outcome: str) -> None:
        self.webhook_deliveries.labels(outcome).inc()

    def count_cancel(self, was: str) -> None:
        self.cancels.labels(was).inc()

    def count_submit(self, outcome: str, status: int) -> None:
        self.submits.labels(outcome, str(status)).inc()

    def timed(self, publisher: Publisher) -> "TimedPublisher":
        return TimedPublisher(publisher, self.publish_confirm)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The metrics in the format `accept` asks for (OpenMetrics or the text format), and
        its content type."""
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type


def _exposed_registry(multiprocess_dir: str | None) -> CollectorRegistry:
    """What /metrics reads: this process's registry, or every process's files."""
    if multiprocess_dir is None:
        return registry_with_process_metrics()
    registry = CollectorRegistry()
    MultiProcessCollector(registry, multiprocess_dir)  # type: ignore[no-untyped-call]
    registry.register(BrokerOutages())
    return registry


class JobFigures(Collector):
    """The store's and the work queue's figures, from the last read before a scrape."""

    def __init__(self) -> None:
        self.queue = ""
        self.tally: JobTally | None = None
        self.queue_figures: QueueFigures | None = None

    def collect(self) -> Iterator[Metric]:
        if self.tally is not None:
            yield from self._store_figures(self.tally)
        if self.queue_figures is not None:
            yield from self._queue_figures(self.queue_figures)

    def _store_figures(self, tally: JobTally) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            "resize_jobs_current",
            "Jobs in the job store by status, read when scraped (service-wide: every API "
            "replica reports the same figures).",
            labels=["queue", "status"],
        )
        for status, count in tally.by_status.items():
            jobs.add_metric([self.queue, status.value], count)
        oldest = GaugeMetricFamily(
            "resize_oldest_queued_seconds",
            "How long the oldest queued job has waited, read when scraped; 0 when none waits.",
            labels=["queue"],
        )
        oldest.add_metric([self.queue], tally.oldest_queued_seconds())
        yield jobs
        yield oldest

    def _queue_figures(self, figures: QueueFigures) -> Iterator[Metric]:
        ready = GaugeMetricFamily(
            "resize_queue_messages_ready",
            "Tasks ready in the work queue, as the broker answers when scraped.",
            labels=["queue"],
        )
        ready.add_metric([self.queue], figures.ready)
        consumers = GaugeMetricFamily(
            "resize_queue_consumers",
            "Workers' consumers on the work queue, as the broker answers when scraped.",
            labels=["queue"],
        )
        consumers.add_metric([self.queue], figures.consumers)
        yield ready
        yield consumers


class TimedPublisher(WrappedPublisher):
    """A `Publisher` that times each publish until the broker confirms or refuses it."""

    def __init__(self, publisher: Publisher, histogram: Histogram) -> None:
        super().__init__(publisher)
        self._histogram = histogram

    async def publish(self, task: ResizeTask) -> None:
        started = time.perf_counter()
        try:
            await super().publish(task)
        except ApiProblem as refusal:
            self._observe(refusal.slug, started)
            raise
        self._observe("confirmed", started)

    def _observe(self, outcome: str, started: float) -> None:
        self._histogram.labels(outcome).observe(time.perf_counter() - started)

"""Section `tracing`: what exporting traces costs (issue 23). The service is measured with
OTEL_EXPORTER_OTLP_ENDPOINT unset and set, to a collector in this process that decodes what it
is sent and counts the spans, as a real one would. Each round deploys both ways, in turns
(off, on; then on, off; ...), so drift on a shared machine falls on both alike; a figure is the
median over the rounds.

    throughput  corpus jobs over HTTP (as `service`), first submit to last success
    submit p99  `POST /v1/jobs` of the corpus file nearest 1 MB at a fixed rate (as `latency`)
    CPU         the API's and the worker's CPU time per job over both, steadier than the clock
"""

import asyncio
import contextlib
import logging
import statistics
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from functools import partial

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench.client import ServiceClient
from bench.corpus import Photo
from bench.deployment import deployed
from bench.latency import Schedule, latency_schedule, measure_latency
from bench.options import Options
from bench.proc import CpuMeter
from bench.report import Report
from bench.throughput import SUBMITTERS, measure_throughput
from bench.workloads import JOB_VARIANTS, corpus_uploads, upload_of

logger = logging.getLogger(__name__)


class Collector:
    """An OTLP/HTTP endpoint that answers every export 200 and counts the spans in it."""

    def __init__(self) -> None:
        self.spans = 0
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls) -> AsyncIterator["Collector"]:
        collector = cls()
        server = await asyncio.start_server(collector._serve, "127.0.0.1", 0)
        collector.port = server.sockets[0].getsockname()[1]
        async with server:
            yield collector

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:  # the exporter keeps its connection open between exports
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
                length = int(head.partition("content-length:")[2].split("\r\n")[0] or 0)
                export = ExportTraceServiceRequest.FromString(await reader.readexactly(length))
                self.spans += sum(
                    len(scope.spans)
                    for resource in export.resource_spans
                    for scope in resource.scope_spans
                )
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        writer.close()


@dataclass(frozen=True)
class Round:
    traced: bool
    jobs_per_second: float
    submit_p99: float
    api_cpu_per_job: float
    worker_cpu_per_job: float


async def run_tracing(
    options: Options, corpus: Sequence[Photo], photos: Sequence[Photo], report: Report
) -> None:
    schedule = latency_schedule(corpus, options.rate, options.latency_requests)
    rounds: list[Round] = []
    async with Collector.running() as collector:
        with report.timed("tracing"):
            for index in range(options.tracing_rounds):
                for traced in (False, True) if index % 2 == 0 else (True, False):
                    logger.info("tracing: round %d, %s", index + 1, "on" if traced else "off")
                    endpoint = collector.endpoint if traced else None
                    rounds.append(await _round(options, photos, schedule, endpoint))
    _report(report, rounds, collector.spans, options)


async def _round(
    options: Options,
    photos: Sequence[Photo],
    schedule: Schedule,
    endpoint: str | None,
) -> Round:
    """One deployment, tracing to `endpoint` (None: off)."""
    traced = {} if endpoint is None else {"otel_exporter_otlp_endpoint": endpoint}
    overrides = {**options.setting_overrides, **traced}
    async with (
        deployed(options.amqp_url, overrides, options.extra_env) as deployment,
        httpx.AsyncClient(base_url=deployment.base_url, timeout=60) as http,
    ):
        client = ServiceClient(http)
        await client.wait_succeeded([await client.submit(upload_of(photos[0], JOB_VARIANTS))])
        api = CpuMeter("API", deployment.api.process.pid)
        worker = CpuMeter("worker", deployment.worker.process.pid)
        uploads = corpus_uploads(list(photos), len(photos) * options.passes)
        rate = await measure_throughput(client, uploads, SUBMITTERS)
        latency = await measure_latency(client, schedule)
        await client.wait_succeeded(latency.ids)
        jobs = rate.jobs + len(latency.ids)
        return Round(
            endpoint is not None,
            rate.jobs_per_second,
            latency.p99,
            api.seconds() / jobs,
            worker.seconds() / jobs,
        )


def _report(report: Report, rounds: list[Round], spans: int, options: Options) -> None:
    add = partial(report.add, "tracing")

    def median(traced: bool, figure: str) -> float:
        return float(statistics.median(getattr(r, figure) for r in rounds if r.traced is traced))

    note = f"median of {options.tracing_rounds} rounds each, off and on in turns"
    for figure, measure, unit, scale in (
        ("jobs_per_second", "throughput", "jobs/s", 1.0),
        ("submit_p99", "submit p99", "ms", 1000.0),
        ("api_cpu_per_job", "API CPU per job", "ms", 1000.0),
        ("worker_cpu_per_job", "worker CPU per job", "ms", 1000.0),
    ):
        off, on = median(False, figure), median(True, figure)
        add(f"{measure}, tracing off", off * scale, unit, note)
        add(f"{measure}, tracing on", on * scale, unit)
        add(f"{measure}, on / off", on / off, "ratio")
        note = ""  # once for the section
    add("spans received", spans, "count", f"over {options.tracing_rounds} traced rounds")

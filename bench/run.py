"""One run: the limits loops in this process, then the service sections against one deployment
(the API and one worker), in the order that keeps each from disturbing the next:
idle latency, service throughput, busy latency, ceiling, memory."""

import asyncio
import logging
import math
import os
import time
from dataclasses import dataclass
from functools import partial

import httpx

from bench.api import run_api
from bench.bombs import OPEN_API, decoded_whole, detonate, make_bombs, salvo
from bench.broker import run_broker
from bench.client import ServiceClient
from bench.corpus import Photo, load_corpus, smallest
from bench.deployment import Deployment, deployed
from bench.encoders import TOGETHER, costliest_mib, each_alone, side_for, together
from bench.lanes import run_lanes
from bench.latency import Latency, Schedule, busy_latency, idle_latency, latency_schedule
from bench.limits import naive_job, own_job, run_loop
from bench.machine import machine_line
from bench.memory import measure_memory
from bench.options import Options
from bench.proc import CpuMeter, status_mib
from bench.report import Report
from bench.settings import default_settings
from bench.steady import measure_steady
from bench.throughput import SUBMITTERS, Rate, ServiceRate, measure_throughput
from bench.tracing import run_tracing
from bench.workloads import (
    CEILING_SIDE,
    CEILING_VARIANTS,
    JOB_VARIANTS,
    LATENCY_VARIANTS,
    corpus_uploads,
    tiny_upload,
    upload_of,
)
from shared.images import Limits

logger = logging.getLogger(__name__)

# Many at once, so the API, not the client, sets the ceiling.
CEILING_SUBMITTERS = 32
# The busy backlog outlasts its own upload and the latency run by this factor, at the rates
# the service run measured.
BACKLOG_MARGIN = 1.5
# The sections measured on the one deployment of `run_main`; the others make their own.
MAIN_SECTIONS = {"service", "latency", "ceiling", "steady", "memory"}


@dataclass(frozen=True)
class LoopRates:
    naive: Rate
    own: Rate


def run(options: Options) -> Report:
    corpus = load_corpus(options.corpus)
    photos = smallest(corpus, options.photos) if options.photos else corpus
    report = Report(machine_line(), _settings_line(options, corpus, photos))
    limits = run_limits(options, photos, report) if "limits" in options.sections else None
    if options.needs_service:
        asyncio.run(ServiceRun(options, corpus, photos, limits, report).run())
    return report


def run_limits(options: Options, photos: list[Photo], report: Report) -> LoopRates:
    loop = partial(run_loop, photos=photos, passes=options.passes, threads=options.threads)
    with report.timed("limits"):
        logger.info("limits: naive loop")
        naive = loop(naive_job)
        logger.info("limits: own loop")
        settings = default_settings(**options.setting_overrides)
        own = loop(partial(own_job, limits=Limits.of(settings)))
    threads = f"{options.threads} threads"
    report.add(
        "limits",
        "naive loop (a decode per variant)",
        naive.jobs_per_second,
        "jobs/s",
        f"{naive.jobs} jobs, {threads}, {naive.seconds:.1f} s",
    )
    report.add(
        "limits",
        "own loop (worker's render_job)",
        own.jobs_per_second,
        "jobs/s",
        f"{own.jobs} jobs, {threads}, {own.seconds:.1f} s",
    )
    return LoopRates(naive, own)


@dataclass
class ServiceRun:
    options: Options
    corpus: list[Photo]
    photos: list[Photo]
    limits: LoopRates | None
    report: Report

    async def run(self) -> None:
        if set(self.options.sections) & MAIN_SECTIONS:
            await self.run_main()
        if "bombs" in self.options.sections:
            await self.bombs()
        if "encoders" in self.options.sections:
            await self.encoders()
        if "api" in self.options.sections:
            await run_api(self.options, self.report)
        if "broker" in self.options.sections:
            await run_broker(self.options, self.report)
        if "lanes" in self.options.sections:
            await run_lanes(self.options, self.photos, self.report)
        if "tracing" in self.options.sections:
            await run_tracing(self.options, self.corpus, self.photos, self.report)

    async def run_main(self) -> None:
        sections = self.options.sections
        started = time.monotonic()
        async with (
            deployed(
                self.options.amqp_url, self.options.setting_overrides, self.options.extra_env
            ) as deployment,
            httpx.AsyncClient(base_url=deployment.base_url, timeout=60) as http,
        ):
            client = ServiceClient(http)
            # One job first: the worker is connected and has loaded its codecs.
            warm_up = upload_of(self.photos[0], JOB_VARIANTS)
            await client.wait_succeeded([await client.submit(warm_up)])
            self.report.took["start-up"] = time.monotonic() - started
            client.refusals.clear()
            if "latency" in sections:
                await self.idle_latency(client, deployment)
            if "service" in sections:
                rate = await self.throughput(client, deployment)
                if "latency" in sections:  # it implies service: its backlog needs the rate
                    await self.busy_latency(client, rate)
            if "ceiling" in sections:
                await self.ceiling(client, deployment)
            if "steady" in sections:
                await self.steady(client, deployment)
            if "memory" in sections:
                await self.memory(client, deployment)

    async def idle_latency(self, client: ServiceClient, deployment: Deployment) -> None:
        logger.info("latency: worker idle")
        api = _api_meter(deployment)
        with self.report.timed("latency"):
            latency = await idle_latency(client, self._schedule())
        self._latency_rows("idle", latency, "nothing queued")
        self._cpu_row("latency", api, len(latency.ids), "1 MB job: submit, events, status")
        self._refusal_row("latency", client)

    async def throughput(self, client: ServiceClient, deployment: Deployment) -> ServiceRate:
        logger.info("service: corpus over HTTP")
        uploads = corpus_uploads(self.photos, len(self.photos) * self.options.passes)
        api = _api_meter(deployment)
        worker = CpuMeter("worker", deployment.worker.process.pid)
        with self.report.timed("service"):
            rate = await measure_throughput(client, uploads, SUBMITTERS)
        concurrency = deployment.settings.worker_concurrency
        self.report.add(
            "service",
            "throughput (API + 1 worker)",
            rate.jobs_per_second,
            "jobs/s",
            f"{rate.jobs} corpus jobs over HTTP, worker concurrency {concurrency}, "
            f"{SUBMITTERS} submitters, {rate.seconds:.1f} s",
        )
        if self.limits is not None:
            for name, loop in (("naive loop", self.limits.naive), ("own loop", self.limits.own)):
                self.report.add(
                    "service",
                    f"service / {name}",
                    rate.jobs_per_second / loop.jobs_per_second,
                    "ratio",
                )
        self._cpu_row("service", worker, rate.jobs, "corpus job")
        self._cpu_row("service", api, rate.jobs, "corpus job: submit, events, status")
        self._refusal_row("service", client)
        return rate

    async def busy_latency(self, client: ServiceClient, service: ServiceRate) -> None:
        logger.info("latency: worker busy")
        backlog = corpus_uploads(self.photos, self._backlog_jobs(service))
        with self.report.timed("latency"):
            busy = await busy_latency(client, self._schedule(), backlog, SUBMITTERS)
        state = (
            "busy to the end" if busy.busy_to_the_end else "NOT busy to the end: backlog ran out"
        )
        note = f"behind {busy.backlog} corpus jobs, worker {state}"
        self._latency_rows("busy", busy.latency, note)
        self._refusal_row("latency", client)

    async def ceiling(self, client: ServiceClient, deployment: Deployment) -> None:
        logger.info("ceiling: tiny jobs")
        uploads = [tiny_upload()] * self.options.ceiling_jobs
        api = _api_meter(deployment)
        with self.report.timed("ceiling"):
            rate = await measure_throughput(client, uploads, CEILING_SUBMITTERS)
        self.report.add(
            "ceiling",
            "throughput (tiny jobs)",
            rate.jobs_per_second,
            "jobs/s",
            f"{rate.jobs} jobs of a {CEILING_SIDE}x{CEILING_SIDE} JPEG, "
            f"one {CEILING_VARIANTS[0].width} px variant, "
            f"{CEILING_SUBMITTERS} submitters, {rate.seconds:.1f} s",
        )
        self._cpu_row("ceiling", api, rate.jobs, "tiny job: submit, events, status")
        self._refusal_row("ceiling", client)

    async def steady(self, client: ServiceClient, deployment: Deployment) -> None:
        jobs, rate = self.options.steady_jobs, self.options.steady_rate
        logger.info("steady: %d corpus jobs at %g/s", jobs, rate)
        pid = deployment.worker.process.pid
        with self.report.timed("steady"):
            steady = await measure_steady(client, corpus_uploads(self.photos, jobs), rate, pid)
        note = (
            f"{steady.jobs} corpus jobs at {steady.rate:g}/s (open loop), created_at to updated_at"
        )
        add = partial(self.report.add, "steady")
        add("job time p50, submit to succeeded", steady.p50, "s", note)
        add("job time p95, submit to succeeded", steady.p95, "s")
        add("longest job time", steady.longest, "s")
        add(
            "worker cores busy",
            steady.worker_cores,
            "cores",
            f"its CPU over the run's wall time: {steady.worker_share:.0%} of the machine's "
            f"{os.cpu_count()}, concurrency {deployment.settings.worker_concurrency}",
        )
        self._refusal_row("steady", client)

    async def memory(self, client: ServiceClient, deployment: Deployment) -> None:
        logger.info("memory: %d corpus jobs", self.options.memory_jobs)
        pid = deployment.worker.process.pid
        with self.report.timed("memory"):
            memory = await measure_memory(
                client, pid, self.photos, self.options.memory_jobs, SUBMITTERS
            )
        concurrency = deployment.settings.worker_concurrency
        add = partial(self.report.add, "memory")
        add("worker peak RSS (VmHWM)", memory.peak, "MiB", f"whole run, concurrency {concurrency}")
        for jobs, rss in (
            (memory.checkpoint, memory.rss_at_checkpoint),
            (memory.jobs, memory.rss_at_end),
        ):
            add(f"worker RSS after {jobs} jobs", rss, "MiB", "VmRSS, counting this section's jobs")
        add(
            f"RSS growth {memory.jobs} / {memory.checkpoint} jobs",
            memory.rss_at_end / memory.rss_at_checkpoint,
            "ratio",
        )
        self._refusal_row("memory", client)

    async def bombs(self) -> None:
        """On a deployment of its own, whose API lets every bomb through to the worker."""
        settings = default_settings(**self.options.setting_overrides)
        limits = Limits.of(settings)
        logger.info("bombs: making them")
        bombs = make_bombs(limits, self.options.bomb_side)
        async with (
            deployed(
                self.options.amqp_url,
                self.options.setting_overrides,
                self.options.extra_env,
                api_overrides=OPEN_API,
            ) as deployment,
            httpx.AsyncClient(base_url=deployment.base_url, timeout=120) as http,
        ):
            pid = deployment.worker.process.pid
            # One small job first, so the worker has loaded its codecs: its RSS at rest.
            client = ServiceClient(http)
            await client.finished(await client.submit(tiny_upload()))
            self.report.add("bombs", "worker RSS at rest", status_mib(pid, "VmRSS"), "MiB")
            logger.info("bombs: %d, one at a time", len(bombs))
            with self.report.timed("bombs"):
                results = await detonate(client, pid, bombs)
                together = decoded_whole(bombs)
                copies = deployment.settings.worker_concurrency // len(together)
                salvo_peak = await salvo(client, pid, together, copies)
        for result in results:
            self.report.add(
                "bombs",
                f"{result.bomb.name}: worker peak RSS",
                result.peak_mib,
                "MiB",
                f"{len(result.bomb.data) / 1e3:,.0f} kB file, {result.outcome}; "
                f"RSS before it {result.rss_before_mib:.0f} MiB",
            )
        names = " and ".join(bomb.name for bomb in together)
        self.report.add(
            "bombs",
            "all at once: worker peak RSS",
            salvo_peak,
            "MiB",
            f"{copies} each of {names}, submitted together; "
            f"WORKER_MEMORY_MB {deployment.settings.worker_memory_mb}",
        )

    async def encoders(self) -> None:
        """On a deployment of its own with the service's settings: one large output per
        format, alone, then the whole-frame ones together."""
        configured = default_settings(**self.options.setting_overrides)
        side = side_for(self.options.encoder_pixels or configured.max_output_pixels)
        budget = max(configured.worker_memory_mb, costliest_mib(side))
        overrides = {**self.options.setting_overrides, "worker_memory_mb": str(budget)}
        async with (
            deployed(self.options.amqp_url, overrides, self.options.extra_env) as deployment,
            httpx.AsyncClient(base_url=deployment.base_url, timeout=120) as http,
        ):
            pid = deployment.worker.process.pid
            client = ServiceClient(http)
            await client.finished(await client.submit(tiny_upload()))
            self.report.add("encoders", "worker RSS at rest", status_mib(pid, "VmRSS"), "MiB")
            logger.info("encoders: %dx%d outputs", side, side)
            with self.report.timed("encoders"):
                alone = await each_alone(client, pid, side)
                copies = 2
                peak = await together(client, pid, side, copies)
        raised = "" if budget == configured.worker_memory_mb else ", raised to fit every job"
        for result in alone:
            self.report.add(
                "encoders",
                f"{result.format.name} {side}x{side} ({side**2 / 1e6:.1f} MP) from a 64x64 PNG: "
                "worker peak RSS",
                result.peak_mib,
                "MiB",
                f"{result.outcome}; RSS before it {result.rss_before_mib:.0f} MiB, "
                f"{result.bytes_per_pixel:.1f} bytes an output pixel above it; reserved "
                f"{result.reserved_mib:.0f} MiB of WORKER_MEMORY_MB {budget}{raised}",
            )
        names = " and ".join(fmt.name for fmt in TOGETHER)
        self.report.add(
            "encoders",
            "all at once: worker peak RSS",
            peak,
            "MiB",
            f"{copies} each of {names} {side}x{side}, submitted together; "
            f"WORKER_MEMORY_MB {budget}{raised}",
        )

    def _backlog_jobs(self, service: ServiceRate) -> int:
        """Jobs that keep the worker busy while they are uploaded and then for the whole latency
        run: B = r * (W + s * B) with r the rate (with margin), W the run, s upload time a job."""
        window = self.options.latency_requests / self.options.rate
        rate = service.jobs_per_second * BACKLOG_MARGIN
        # Uploads no faster than the worker drains them never build a backlog; cap the size.
        drained_while_uploading = min(rate * service.submit_seconds_per_job, 0.75)
        return math.ceil(rate * window / (1 - drained_while_uploading))

    def _cpu_row(self, section: str, meter: CpuMeter, jobs: int, what: str) -> None:
        """CPU time the process used since `meter` started, per job."""
        self.report.add(
            section,
            f"{meter.name} CPU per job",
            meter.seconds() / jobs * 1000,
            "ms",
            f"all its threads, per {what}",
        )

    def _refusal_row(self, section: str, client: ServiceClient) -> None:
        """The section's submits refused with 503 (and sent again), if there were any."""
        if client.refusals:
            reasons = ", ".join(f"{count} {reason}" for reason, count in client.refusals.items())
            total = client.refusals.total()
            self.report.add(section, "submits refused (503), sent again", total, "count", reasons)
            client.refusals.clear()

    def _schedule(self) -> Schedule:
        return latency_schedule(self.corpus, self.options.rate, self.options.latency_requests)

    def _latency_rows(self, label: str, latency: Latency, detail: str) -> None:
        schedule = self._schedule()
        note = (
            f"{schedule.count} requests at {schedule.rate:g}/s, {schedule.upload.name} "
            f"({len(schedule.upload.data) / 1e6:.1f} MB), one {LATENCY_VARIANTS[0].width} px "
            f"variant, {detail}"
        )
        for name, seconds in (("p50", latency.p50), ("p95", latency.p95), ("p99", latency.p99)):
            self.report.add("latency", f"submit {label} {name}", seconds * 1000, "ms", note)
            note = ""  # once per run


def _api_meter(deployment: Deployment) -> CpuMeter:
    return CpuMeter("API", deployment.api.process.pid)


def _settings_line(options: Options, corpus: list[Photo], photos: list[Photo]) -> str:
    megabytes = sum(len(photo.data) for photo in photos) / 1e6
    chosen = f"the {len(photos)} smallest of {len(corpus)}" if options.photos else len(corpus)
    return (
        f"corpus {options.corpus} ({chosen} images, {megabytes:.1f} MB), "
        f"passes {options.passes}, threads {options.threads}, rate {options.rate:g}/s, "
        f"latency requests {options.latency_requests}, ceiling jobs {options.ceiling_jobs}, "
        f"memory jobs {options.memory_jobs}, steady {options.steady_jobs} at "
        f"{options.steady_rate:g}/s, sections {','.join(options.sections)}, "
        f"service settings: {_service_settings(options)}"
    )


def _service_settings(options: Options) -> str:
    changed = " ".join(f"{name}={value}" for name, value in options.service_env.items())
    return f"defaults and {changed}" if changed else "defaults"

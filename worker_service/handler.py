"""One delivery, start to end: decode it, run the job, report, and settle it in one place.

`handle` decides an outcome (`shared.settle`), which the worker settles:

    Ack         the job is done (or was already)
    DeadLetter  the job failed for good: into {q}.dead
    Forward     the next attempt through its backoff tier (`retry.after_attempt` decides), or
                a re-run of an interrupted job from the retry queue
    Requeue     broker trouble: the broker hands the delivery out again

A task with a `source_url` whose original is not stored yet fetches it first
(`fetch.SourceFetcher`), outside a resize slot; a fetch that fails is a `JobFailure` like any
other, failed or retried with backoff. Once stored, no later attempt fetches it again.

A task whose original is gone (and that has no `source_url`) is failed at once, before it
takes a slot, and acked rather than dead-lettered: nothing could ever run it again. That is how
the task of a submit the API refused after a confirm timeout ends if it reaches the queue after
all (the API removed its original).

A delivery with `redelivered` set was held by a consumer that vanished (crash, lost connection)
before settling it. It is forwarded with its attempt counted, before any work, so a job that
kills its worker every time still reaches MAX_ATTEMPTS instead of looping forever.

A cancelled job (`worker_service.revocations`) is looked for before a delivery takes a slot,
once it has one, and before the manifest; a notice stops libvips mid-job. Either way the
delivery is acked with a `cancelled` event, and a stopped attempt's outputs are deleted.
"""

import contextlib
import functools
import logging
import threading
from collections.abc import Callable
from typing import TypeVar
from uuid import UUID

from aio_pika.abc import AbstractIncomingMessage
from opentelemetry.trace import SpanKind, Tracer
from pydantic import ValidationError

from shared.backoff import jittered
from shared.images import Limits
from shared.log_context import bind_job
from shared.messages import EventKind, FailureInfo, JobResult, ResizeTask
from shared.schemas import ErrorCode
from shared.settings import Settings
from shared.settle import BROKER_ERRORS, Ack, DeadLetter, Forward, Outcome, Republish, Requeue
from shared.storage import Storage
from shared.topology import Topology
from shared.tracing import annotate, failed
from worker_service.errors import JobCancelled, JobFailure, PermanentFailure, TransientFailure
from worker_service.executor import ResizeExecutor
from worker_service.fetch import SourceFetcher
from worker_service.job_files import (
    discard_outputs,
    read_manifest,
    source_exists,
    source_file,
    store_outputs,
    write_manifest,
)
from worker_service.lanes import Draining
from worker_service.memory import MemoryBudget
from worker_service.metrics import JobOutcome, WorkerMetrics
from worker_service.pipeline import inspect_task, memory_needed, render_task
from worker_service.reporter import Reporter
from worker_service.retry import Ended, GiveUp, TryAgain, after_attempt
from worker_service.revocations import Attempt, Revocations

logger = logging.getLogger(__name__)
T = TypeVar("T")

# The retry reason of a delivery whose worker vanished before settling it.
LOST_DELIVERY = "delivery_lost"

SOURCE_GONE = FailureInfo(
    code=ErrorCode.SOURCE_MISSING,
    message="The uploaded original is gone (the submit was refused, or the job was deleted).",
)


class Handler:
    def __init__(
        self,
        settings: Settings,
        topology: Topology,
        reporter: Reporter,
        executor: ResizeExecutor,
        storage: Storage,
        *,
        revocations: Revocations,
        metrics: WorkerMetrics,
        tracer: Tracer,
    ) -> None:
        self._settings = settings
        self._topology = topology
        self._reporter = reporter
        self._executor = executor
        self._storage = storage
        self._revocations = revocations
        self._metrics = metrics
        self._tracer = tracer
        self._limits = Limits.of(settings)
        self._memory = MemoryBudget(self._limits.memory_bytes)
        self._fetcher = SourceFetcher(settings, storage)

    async def handle(self, message: AbstractIncomingMessage) -> Outcome:
        """The outcome of one delivery. Each runs in a task of its own (`Worker._on_message`),
        so every line logged until it is settled carries its job and attempt."""
        try:
            task = ResizeTask.model_validate_json(message.body)
        except ValidationError as exc:
            return await self._refuse(message, exc)
        bind_job(task.job_id, task.attempt)
        annotate({"job.id": str(task.job_id), "job.run": task.run, "job.attempt": task.attempt})
        try:
            done = await read_manifest(self._storage, task.job_id)
            if done is not None:
                logger.info("already done, not redone")
                await self._reporter.report(task, EventKind.SUCCEEDED, result=done)
                self._metrics.count(JobOutcome.SKIPPED)
                return Ack()
            return await self._start(task, bool(message.redelivered))
        except BROKER_ERRORS as exc:
            logger.warning("broker trouble: %r", exc)
            return Requeue()

    async def _start(self, task: ResizeTask, redelivered: bool) -> Outcome:
        """Run a job not done yet, unless its original is gone (it fails) or storage cannot
        tell (it is retried, like any storage failure). An original still to be fetched from
        its `source_url` is fetched first."""
        try:
            source_there = await source_exists(self._storage, task.source_key)
        except TransientFailure as failure:
            return await self._retry_or_fail(task, failure)
        if not source_there and task.source_url is None:
            return await self._fail(task, SOURCE_GONE)
        try:
            await self._revocations.check(task)
        except JobCancelled:
            return await self._cancelled(task, started=False)
        except TransientFailure as failure:
            return await self._retry_or_fail(task, failure)
        if redelivered:
            return await self._count_lost_delivery(task)
        # Without its original only a URL job gets this far: it is fetched first.
        return await (self._run(task) if source_there else self._fetch_and_run(task))

    async def _fetch_and_run(self, task: ResizeTask) -> Outcome:
        assert task.source_url is not None
        logger.info("fetching the original from its source_url")
        try:
            # A span of our own: the fetch drives an httpcore pool, which no library traces.
            with self._tracer.start_as_current_span("resize.fetch", kind=SpanKind.CLIENT):
                await self._fetcher.fetch(task.source_url, task.source_key)
        except PermanentFailure as failure:
            return await self._fail(task, failure.info(), failure)
        except TransientFailure as failure:
            return await self._retry_or_fail(task, failure)
        return await self._run(task)

    @property
    def republish(self) -> Republish:
        """How the handler's `Forward`s are published, for `settle`."""
        return self._reporter.republish

    def interrupted(self, message: AbstractIncomingMessage) -> Outcome:
        """The outcome for a job the worker had to interrupt: run again, the same attempt."""
        try:
            task = ResizeTask.model_validate_json(message.body)
        except ValidationError:
            return Requeue()
        return Forward(task, self._topology.retry_queue)

    async def _run(self, task: ResizeTask) -> Outcome:
        try:
            async with self._executor.slot(task.priority, task.lane):
                with self._revocations.running(task) as attempt:
                    await self._revocations.check(task)  # again: the wait may have been long
                    async with self._metrics.attempt():
                        result = await self._attempt(task, attempt)
        except Draining:
            return Forward(task, self._topology.retry_queue)
        except JobCancelled:
            return await self._cancelled(task, started=True)
        except PermanentFailure as failure:
            return await self._fail(task, failure.info(), failure)
        except TransientFailure as failure:
            return await self._retry_or_fail(task, failure)
        await self._reporter.report(task, EventKind.SUCCEEDED, result=result)
        logger.info("succeeded")
        self._metrics.count(JobOutcome.SUCCEEDED)
        return Ack()

    async def _attempt(self, task: ResizeTask, attempt: Attempt) -> JobResult:
        async with source_file(self._storage, task.source_key) as path:
            source = await self._in_thread(
                lambda _: inspect_task(task, path, self._limits), attempt
            )
            async with self._memory.reserve(memory_needed(task, source)):
                await self._reporter.report(task, EventKind.PROCESSING, source=source.as_source())
                logger.info("processing")
                rendered = await self._in_thread(
                    functools.partial(
                        render_task, task, path, source, metrics=self._metrics, tracer=self._tracer
                    ),
                    attempt,
                )
                if attempt.cancelled:
                    raise JobCancelled
                result = await store_outputs(self._storage, task, source, rendered, self._metrics)
                await self._revocations.check(task, attempt)  # the last look: then it is done
                await write_manifest(self._storage, task, result)
                return result

    async def _in_thread(self, work: Callable[[threading.Event], T], attempt: Attempt) -> T:
        """`work` in an executor thread, stopped by the attempt's cancel; anything else it
        raises that is not a `JobFailure` is a bug or an environment problem, retried as an
        internal error."""
        try:
            return await self._executor.run(work, attempt.stop)
        except Exception as exc:
            if attempt.cancelled:
                raise JobCancelled from exc
            if isinstance(exc, JobFailure):
                raise
            logger.exception("unexpected error")
            raise TransientFailure(ErrorCode.INTERNAL_ERROR, f"Unexpected error: {exc!r}") from exc

    async def _cancelled(self, task: ResizeTask, *, started: bool) -> Outcome:
        """Ack a cancelled job with a `cancelled` event; an attempt that had started deletes
        what it wrote. (One that never started deletes nothing: its job may have been retried
        since, and the outputs be the new run's.)"""
        if started:
            await discard_outputs(self._storage, task.job_id)
        logger.info("cancelled: %s", "stopped" if started else "not run")
        await self._reporter.report(task, EventKind.CANCELLED)
        self._metrics.count(JobOutcome.CANCELLED)
        return Ack()

    def _decide(self, task: ResizeTask, ended: Ended) -> TryAgain | GiveUp:
        return after_attempt(
            task.attempt, ended, self._settings.max_attempts, self._topology.retry_delays_ms
        )

    async def _retry_or_fail(self, task: ResizeTask, failure: JobFailure) -> Outcome:
        match self._decide(task, Ended.FAILED):
            case TryAgain(_, int(delay_ms)):
                failed(f"{failure.code}: {failure.message}", failure)
                logger.warning(
                    "%s (%s); retrying in up to %d ms", failure.code, failure.message, delay_ms
                )
                await self._reporter.report(task, EventKind.RETRYING, error=failure.info())
                self._metrics.retried(failure.code)
                return Forward(
                    task.next_attempt(), self._topology.delay_queue(delay_ms), jittered(delay_ms)
                )
            case _:
                attempts = self._settings.max_attempts
                message = f"Attempt {task.attempt} of {attempts} failed: {failure.message}"
                return await self._fail(
                    task, FailureInfo(code=failure.code, message=message), failure
                )

    async def _count_lost_delivery(self, task: ResizeTask) -> Outcome:
        match self._decide(task, Ended.LOST):
            case TryAgain(attempt):
                logger.warning("lost with its worker; queued as attempt %d", attempt)
                self._metrics.retried(LOST_DELIVERY)
                return Forward(task.next_attempt(), self._topology.retry_queue)
            case _:
                message = (
                    f"The job was delivered {task.attempt} times and never finished; "
                    "its worker stopped mid-job each time."
                )
                return await self._fail(
                    task, FailureInfo(code=ErrorCode.ATTEMPTS_EXHAUSTED, message=message)
                )

    async def _fail(
        self, task: ResizeTask, error: FailureInfo, cause: JobFailure | None = None
    ) -> Outcome:
        """Fail the job for good; `cause` is the failure that ended it, when it raised one."""
        logger.error("failed: %s (%s)", error.code, error.message)
        failed(f"{error.code}: {error.message}", cause)
        await self._reporter.report(task, EventKind.FAILED, error=error)
        self._metrics.failed(error.code)
        # Without its original a task can never run, so keeping it in {q}.dead helps nobody.
        return Ack() if error.code is ErrorCode.SOURCE_MISSING else DeadLetter()

    async def _refuse(self, message: AbstractIncomingMessage, exc: ValidationError) -> Outcome:
        """A body that is not a task: fail its job if its id is known, and dead-letter it."""
        job_id: UUID | None = None
        with contextlib.suppress(ValueError):
            job_id = UUID(message.message_id or "")
            bind_job(job_id)
        logger.error("delivery %s is not a valid task: %s", message.message_id, exc)
        if job_id is not None:
            invalid = ResizeTask.model_construct(
                job_id=job_id, run=1, attempt=1, source_key="", variants=[]
            )
            error = FailureInfo(
                code=ErrorCode.INVALID_TASK, message="The task message was unreadable."
            )
            try:
                await self._reporter.report(invalid, EventKind.FAILED, error=error)
            except BROKER_ERRORS:
                return Requeue()
        self._metrics.failed(ErrorCode.INVALID_TASK)
        return DeadLetter()

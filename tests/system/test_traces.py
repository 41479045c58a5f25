"""One job, one trace: both services run as processes on a real broker and export their spans
over OTLP/HTTP to a receiver in this process, which decodes them as a collector would. Each
job's spans form one tree under the submit's server span, across the API, the broker, the
worker and back."""

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.settings import Settings
from tests.client import ApiClient
from tests.images import jpeg_bytes, undecodable_png
from tests.otlp import Span, collector_url, spans
from tests.receiver import Receiver, hooked
from tests.source_server import Answer, SourceServer
from tests.support import free_port, json_lines, service_env, started, stop, wait_for

VARIANTS = [
    {"name": "thumb", "width": 160, "format": "webp"},
    {"name": "large", "width": 640, "format": "jpeg"},
]
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
RETRY_TRACE = "0af7651916cd43dd8448eb211c80319c"
RETRY_SPAN = "b7ad6b7169203331"


class Trace:
    """The spans of one trace, with their parents."""

    def __init__(self, received: Iterable[Span], trace_id: str) -> None:
        self.spans = [span for span in received if span.trace_id == trace_id]
        self._by_id = {span.span_id: span for span in self.spans}

    def named(self, name: str, **attributes: object) -> list[Span]:
        return [
            span
            for span in self.spans
            if span.name == name and all(span.attributes.get(k) == v for k, v in attributes.items())
        ]

    def one(self, name: str, **attributes: object) -> Span:
        (span,) = self.named(name, **attributes)
        return span

    def parent(self, span: Span) -> Span:
        return self._by_id[span.parent_id]

    def root(self, span: Span) -> Span:
        """The span's farthest ancestor in this trace (every parent must have arrived)."""
        while span.parent_id in self._by_id:
            span = self._by_id[span.parent_id]
        return span


def traced(broker_settings: Callable[..., Settings], collector: Receiver) -> dict[str, str]:
    settings = hooked(
        broker_settings,
        port=free_port(),
        log_format="json",
        source_url_allow_private=True,
        retry_base_delay_seconds=0.2,
        max_attempts=3,
        otel_exporter_otlp_endpoint=collector_url(collector),
    )
    # Batches leave every 100 ms instead of every 5 s: the standard variable, honoured.
    return {**service_env(settings), "OTEL_BSP_SCHEDULE_DELAY": "100"}


@dataclass(frozen=True)
class Run:
    received: list[Span]
    ok: str  # succeeded at once, in the caller's trace; its webhook's first try failed
    broken: str  # failed for good, then retried by hand and failed again
    fetched: str  # a source_url answered 503 first: retried, then succeeded
    worker_log: Path


@pytest.mark.timeout(120)
async def test_each_job_is_one_trace_from_the_submit_through_the_worker_and_back(
    broker_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    run = await three_jobs(broker_settings, tmp_path)
    succeeded_tree(run)
    failed_tree(run)
    retried_tree(run)
    # The worker's JSON log lines about a job carry the job's trace id.
    about_ok = [line for line in json_lines(run.worker_log) if line.get("job_id") == run.ok]
    assert {line.get("trace_id") for line in about_ok} == {CALLER_TRACE}


async def three_jobs(broker_settings: Callable[..., Settings], tmp_path: Path) -> Run:
    """Run the three jobs through both services as processes; every span they exported."""
    async with (
        Receiver.running() as collector,
        Receiver.running(script=[500]) as webhooks,
        SourceServer.running(
            {"/photo.jpg": [Answer(503), Answer(200, jpeg_bytes(), {"content-type": "image/jpeg"})]}
        ) as host,
    ):
        env = traced(broker_settings, collector)
        api_log, worker_log = tmp_path / "api.log", tmp_path / "worker.log"
        with (
            started("producer_service", env, api_log) as api,
            started("worker_service", env, worker_log) as worker,
        ):
            async with ApiClient.at(int(env["PORT"])) as client:
                await wait_for(client.is_ready, within=30, what="the API to be ready")
                caller = {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"}
                answers = [
                    await client.post_job(
                        jpeg_bytes(1200, 800), VARIANTS, caller, callback_url=webhooks.url
                    ),
                    await client.post_job(undecodable_png(), VARIANTS),
                    await client.post_job(None, VARIANTS, source_url=host.url("/photo.jpg")),
                ]
                assert [a.status_code for a in answers] == [202] * 3, answers
                ok, broken, fetched = (str(a.json()["id"]) for a in answers)
                jobs = [await client.finished(job) for job in (ok, broken, fetched)]
                assert [j["status"] for j in jobs] == ["succeeded", "failed", "succeeded"]
                assert jobs[2]["attempts"] == 2
                # A manual retry, sent from another trace, joins the job's own.
                again = await client.http.post(
                    f"/v1/jobs/{broken}/retry",
                    headers={"traceparent": f"00-{RETRY_TRACE}-{RETRY_SPAN}-01"},
                )
                assert again.status_code == 202, again.text
                await client.wait_for_status("failed", [broken], 1)

                async def all_exported() -> bool:
                    names = [span.name for span in spans(collector)]
                    return names.count("resize.attempt") == 5 and names.count("webhook.try") == 2

                await wait_for(all_exported, within=20, what="every span to be exported")
            # In a thread: the collector on this loop must take the exports their stops flush.
            await asyncio.to_thread(stop, api, api_log)
            await asyncio.to_thread(stop, worker, worker_log)
        return Run(spans(collector), ok, broken, fetched, worker_log)


def succeeded_tree(run: Run) -> None:
    """The caller's trace: submit > publish > attempt > decode, variants, events > webhook
    tries, the second the child of the first, which failed."""
    job = Trace(run.received, CALLER_TRACE)
    submit = job.one("POST /v1/jobs")
    assert (submit.service, submit.kind, submit.parent_id) == ("resize-api", "SERVER", CALLER_SPAN)
    publish = job.one("resize.publish")
    assert (publish.service, publish.kind, job.parent(publish)) == (
        "resize-api",
        "PRODUCER",
        submit,
    )
    attempt = job.one("resize.attempt")
    assert (attempt.service, attempt.kind) == ("resize-worker", "CONSUMER")
    assert job.parent(attempt) == publish
    assert (attempt.attributes["job.id"], attempt.attributes["job.attempt"]) == (run.ok, 1)
    assert not attempt.failed
    decode = job.one("resize.decode")
    assert (decode.service, job.parent(decode)) == ("resize-worker", attempt)
    assert (decode.attributes["image.width"], decode.attributes["image.format"]) == (1200, "jpeg")
    variants = {span.attributes["variant.name"]: span for span in job.named("resize.variant")}
    assert {name: job.parent(span) for name, span in variants.items()} == {
        "thumb": attempt,
        "large": attempt,
    }
    assert [
        (
            v.attributes["variant.format"],
            v.attributes["variant.width"],
            v.attributes["variant.height"],
        )
        for v in (variants["thumb"], variants["large"])
    ] == [("webp", 160, 107), ("jpeg", 640, 427)]
    assert variants["thumb"].attributes["variant.bytes"] > 0
    applied = {span.attributes["job.event"]: span for span in job.named("resize.apply_event")}
    assert set(applied) == {"processing", "succeeded"}
    assert {job.parent(span) for span in applied.values()} == {attempt}
    assert {span.service for span in applied.values()} == {"resize-api"}
    first, second = sorted(job.named("webhook.try"), key=lambda s: s.attributes["webhook.attempt"])
    assert (first.service, job.parent(first), first.failed) == (
        "resize-api",
        applied["succeeded"],
        True,
    )
    assert (job.parent(second), second.failed) == (first, False)
    assert {job.root(span) for span in job.spans} == {submit}


def failed_tree(run: Run) -> None:
    """A trace of the job's own (no caller's), failures on the spans where they happened; the
    manual retry's publish is in it, linked to the retry's request."""
    failed = Trace(run.received, _trace_of(run.received, run.broken))
    first, rerun = sorted(failed.named("resize.attempt"), key=lambda s: s.attributes["job.run"])
    assert [first.failed, rerun.failed] == [True, True]
    assert first.exceptions == ("worker_service.errors.PermanentFailure",)
    decodes = failed.named("resize.decode")
    assert [(span.failed, bool(span.exceptions)) for span in decodes] == [(True, True)] * 2
    assert {failed.root(span).name for span in failed.spans} == {"POST /v1/jobs"}
    retry_publish = failed.parent(rerun)
    assert retry_publish.name == "resize.publish"
    assert failed.root(retry_publish).name == "POST /v1/jobs"
    request = Trace(run.received, RETRY_TRACE).one("POST /v1/jobs/{job_id}/retry")
    assert (request.parent_id, retry_publish.links) == (RETRY_SPAN, (request.span_id,))


def retried_tree(run: Run) -> None:
    """Attempt 2 is the child of attempt 1, which failed and says why."""
    retried = Trace(run.received, _trace_of(run.received, run.fetched))
    one, two = sorted(retried.named("resize.attempt"), key=lambda s: s.attributes["job.attempt"])
    assert [one.failed, two.failed] == [True, False]
    assert one.exceptions == ("worker_service.errors.TransientFailure",)
    assert retried.parent(two) == one
    assert retried.parent(one).name == "resize.publish"
    fetches = sorted(
        retried.named("resize.fetch"), key=lambda s: retried.parent(s).attributes["job.attempt"]
    )
    assert [(f.kind, f.failed, retried.parent(f)) for f in fetches] == [
        ("CLIENT", True, one),
        ("CLIENT", False, two),
    ]
    assert {retried.root(span).name for span in retried.spans} == {"POST /v1/jobs"}


def _trace_of(received: Iterable[Span], job_id: str) -> str:
    (trace_id,) = {s.trace_id for s in received if s.attributes.get("job.id") == job_id}
    return trace_id

"""OTEL_EXPORTER_OTLP_ENDPOINT: the services export their spans over OTLP/HTTP to a real
receiver in this process, decoded as a collector would."""

from collections.abc import Callable

from producer_service.db.store import JobStore
from shared.settings import Settings
from tests.client import ApiClient
from tests.images import jpeg_bytes
from tests.otlp import collector_url, spans
from tests.receiver import Receiver
from tests.support import add_stranded_job, running_api, wait_for

THUMB = [{"name": "thumb", "width": 32}]
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


async def test_a_submit_continues_the_callers_trace_in_a_server_span_of_the_api(
    broker_settings: Callable[..., Settings],
) -> None:
    async with Receiver.running() as collector:
        settings = broker_settings(otel_exporter_otlp_endpoint=collector_url(collector))
        async with running_api(settings) as http:
            answer = await ApiClient(http).post_job(
                jpeg_bytes(), THUMB, headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"}
            )
        # Leaving the API flushed what it had buffered.
        received = spans(collector)
    assert answer.status_code == 202
    (submit,) = [span for span in received if span.name == "POST /v1/jobs"]
    (publish,) = [span for span in received if span.name == "resize.publish"]
    assert (submit.service, submit.kind) == ("resize-api", "SERVER")
    assert (submit.trace_id, submit.parent_id) == (CALLER_TRACE, CALLER_SPAN)
    assert submit.attributes["http.route"] == "/v1/jobs"
    assert (publish.kind, publish.trace_id, publish.parent_id) == (
        "PRODUCER",
        CALLER_TRACE,
        submit.span_id,
    )
    assert publish.attributes["job.id"] == answer.json()["id"]
    assert publish.attributes["messaging.destination.name"] == settings.queue_name


async def test_the_outbox_publishes_a_stranded_task_in_its_jobs_trace(
    broker_settings: Callable[..., Settings],
) -> None:
    async with Receiver.running() as collector:
        settings = broker_settings(otel_exporter_otlp_endpoint=collector_url(collector))
        submitted = {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"}
        job_id = await add_stranded_job(settings, jpeg_bytes(), trace_context=submitted)
        store = JobStore.from_settings(settings)
        async with running_api(settings):

            async def relayed() -> bool:
                record = await store.get(job_id)
                return record is not None and record.published

            await wait_for(relayed, what="the outbox to publish the stranded task")
        await store.close()
        received = spans(collector)
    (publish,) = [span for span in received if span.name == "resize.publish"]
    assert (publish.trace_id, publish.parent_id) == (CALLER_TRACE, CALLER_SPAN)
    assert publish.attributes["job.id"] == str(job_id)
    assert publish.links == ()

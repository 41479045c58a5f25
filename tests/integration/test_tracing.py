"""OTEL_EXPORTER_OTLP_ENDPOINT: the services export their spans over OTLP/HTTP to a real
receiver in this process, decoded as a collector would."""

from collections.abc import Callable

from shared.settings import Settings
from tests.client import ApiClient
from tests.images import jpeg_bytes
from tests.otlp import collector_url, spans
from tests.receiver import Receiver
from tests.support import running_api

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

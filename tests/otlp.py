"""The spans an OTLP/HTTP exporter sent to a `Receiver` (tests/receiver.py, which records every
request), decoded with opentelemetry-proto the way a collector does."""

from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanMessage
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from tests.receiver import Receiver

TRACES_PATH = "/v1/traces"


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    kind: str  # SERVER, CLIENT, PRODUCER, CONSUMER, INTERNAL
    trace_id: str
    span_id: str
    parent_id: str  # "" for a root
    links: tuple[str, ...]  # the span ids it links to
    attributes: dict[str, Any]
    failed: bool  # status ERROR
    exceptions: tuple[str, ...]  # the types of the exceptions recorded on it

    def __hash__(self) -> int:  # a span id names one span
        return hash(self.span_id)


def collector_url(receiver: Receiver) -> str:
    """What OTEL_EXPORTER_OTLP_ENDPOINT names for `receiver`: its base URL."""
    return f"http://127.0.0.1:{receiver.port}"


def spans(receiver: Receiver) -> list[Span]:
    """Every span received so far, in the order received."""
    found = []
    for request in receiver.received:
        assert (request.method, request.path) == ("POST", TRACES_PATH), request
        export = ExportTraceServiceRequest.FromString(request.body)
        for resource_spans in export.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                found += [_span(resource["service.name"], s) for s in scope_spans.spans]
    return found


def _span(service: str, message: SpanMessage) -> Span:
    return Span(
        service=service,
        name=message.name,
        kind=SpanMessage.SpanKind.Name(message.kind).removeprefix("SPAN_KIND_"),
        trace_id=message.trace_id.hex(),
        span_id=message.span_id.hex(),
        parent_id=message.parent_span_id.hex(),
        links=tuple(link.span_id.hex() for link in message.links),
        attributes=_attributes(message.attributes),
        failed=message.status.code == Status.STATUS_CODE_ERROR,
        exceptions=tuple(
            str(_attributes(event.attributes).get("exception.type"))
            for event in message.events
            if event.name == "exception"
        ),
    )


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)

"""OpenTelemetry traces, on when OTEL_EXPORTER_OTLP_ENDPOINT is set: one trace per job.

Each service builds one `Tracing` from its settings. Off (the default), its tracer is the API's
no-op one and the SDK is never imported. On, it owns a `TracerProvider` that exports in batches
over OTLP/HTTP to `{endpoint}/v1/traces`, as the specification says of the generic variable; the
SDK reads the other standard variables itself (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
`OTEL_TRACES_SAMPLER`, `OTEL_EXPORTER_OTLP_HEADERS`, ...). The provider is the service's own,
not the process-wide one, so tests can run an API and a worker side by side in one process.

Context crosses the broker in W3C `traceparent`/`tracestate` message headers
(`context_headers`, `extract`): the propagator is the globally configured one
(`OTEL_PROPAGATORS`, W3C by default). A job keeps its submit's headers, so what is published for
it later (the outbox, a manual retry) joins the job's trace (`in_trace`).
"""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

TRACES_PATH = "/v1/traces"
INSTRUMENTATION = "image-resize"
# The span a block run `in_trace` of a job left, for the spans started in it to link to.
_LEFT = otel_context.create_key("image-resize.left-span")


class Tracing:
    """A service's tracer, and the provider behind it when tracing is on."""

    def __init__(self, provider: trace.TracerProvider | None = None) -> None:
        self.provider = provider
        source = provider if provider is not None else trace.NoOpTracerProvider()
        self.tracer = source.get_tracer(INSTRUMENTATION)

    @classmethod
    def start(cls, endpoint: str | None, service_name: str) -> "Tracing":
        """Tracing to `endpoint` (the OTLP/HTTP base URL), as `service_name` unless
        OTEL_SERVICE_NAME (or `service.name` in OTEL_RESOURCE_ATTRIBUTES) says otherwise; off
        without an endpoint."""
        if not endpoint:
            return cls()
        # Imported here: without tracing the SDK (~70 ms of start-up) is never loaded.
        from shared.tracing_sdk import exporting_provider  # noqa: PLC0415

        return cls(exporting_provider(endpoint.rstrip("/") + TRACES_PATH, service_name))

    @property
    def is_on(self) -> bool:
        return self.provider is not None

    @contextmanager
    def consuming(
        self, name: str, headers: Mapping[str, Any] | None, **attributes: Any
    ) -> Iterator[Span]:
        """A CONSUMER span for handling a message, the child of the span that sent it (its
        `headers`' context), current while the block runs. An exception leaving the block is
        recorded on it and sets its status."""
        with self.tracer.start_as_current_span(
            name, context=extract(headers), kind=SpanKind.CONSUMER, attributes=attributes
        ) as span:
            yield span

    def shutdown(self) -> None:
        """Export what is still buffered, then stop."""
        shutdown = getattr(self.provider, "shutdown", None)
        if shutdown is not None:
            shutdown()


def context_headers() -> dict[str, str]:
    """Message headers that carry the current span's context (none outside a span)."""
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers


def extract(headers: Mapping[str, Any] | None) -> Context:
    """The span context a message's `headers` carry (an empty one when they carry none)."""
    carried = {name: str(value) for name, value in (headers or {}).items()}
    return propagate.extract(carried)


@contextmanager
def in_trace(headers: Mapping[str, Any] | None) -> Iterator[None]:
    """Spans started in the block continue the trace whose context `headers` carry (a job's,
    kept since its submit) instead of the current one; when the current span is in another
    trace (a manual retry's request), they link to it (`links`). Without a context in
    `headers` nothing changes."""
    resumed = extract(headers)
    into = trace.get_current_span(resumed).get_span_context()
    if not into.is_valid:
        yield
        return
    current = trace.get_current_span().get_span_context()
    if current.is_valid and current.trace_id != into.trace_id:
        resumed = otel_context.set_value(_LEFT, current, resumed)
    token = otel_context.attach(resumed)
    try:
        yield
    finally:
        otel_context.detach(token)


def links() -> list[Link]:
    """A link to the span an enclosing `in_trace` left, if it left one."""
    left = otel_context.get_value(_LEFT)
    return [Link(left)] if isinstance(left, SpanContext) else []


def annotate(attributes: Mapping[str, AttributeValue]) -> None:
    """Add `attributes` to the current span (known only once its message was read)."""
    trace.get_current_span().set_attributes(attributes)


def failed(message: str, error: BaseException | None = None) -> None:
    """Mark the current span failed, with `message` and the exception when there is one: for
    failures that are handled (a job that fails is not an exception leaving a span)."""
    span = trace.get_current_span()
    if error is not None:
        span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, message))


def trace_id() -> str | None:
    """The current span's trace id as 32 hex digits, or None outside a recorded span."""
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None

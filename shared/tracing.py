"""OpenTelemetry traces, on when OTEL_EXPORTER_OTLP_ENDPOINT is set: one trace per job.

Each service builds one `Tracing` from its settings. Off (the default), its tracer is the API's
no-op one and the SDK is never imported. On, it owns a `TracerProvider` that exports in batches
over OTLP/HTTP to `{endpoint}/v1/traces`, as the specification says of the generic variable; the
SDK reads the other standard variables itself (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
`OTEL_TRACES_SAMPLER`, `OTEL_EXPORTER_OTLP_HEADERS`, ...). The provider is the service's own,
not the process-wide one, so tests can run an API and a worker side by side in one process.

Context crosses the broker in W3C `traceparent`/`tracestate` message headers (`inject`,
`extract`): the propagator is the globally configured one (`OTEL_PROPAGATORS`, W3C by default).
"""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

TRACES_PATH = "/v1/traces"
INSTRUMENTATION = "image-resize"


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

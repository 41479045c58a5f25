"""The OpenTelemetry SDK's side of `shared.tracing`, imported only when tracing is on."""

import os

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.environment_variables import OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def exporting_provider(traces_url: str, service_name: str) -> TracerProvider:
    """A provider that exports every sampled span, in batches, to `traces_url`."""
    provider = TracerProvider(resource=Resource.create(_default_name(service_name)))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url)))
    return provider


def _default_name(service_name: str) -> dict[str, str]:
    """`service.name`, unless the environment names the service: attributes given to
    `Resource.create` would override what it reads from there."""
    named = os.environ.get(OTEL_SERVICE_NAME) or f"{SERVICE_NAME}=" in os.environ.get(
        OTEL_RESOURCE_ATTRIBUTES, ""
    )
    return {} if named else {SERVICE_NAME: service_name}

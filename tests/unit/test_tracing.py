"""Tracing is off unless OTEL_EXPORTER_OTLP_ENDPOINT is set: then neither service loads the
OpenTelemetry SDK nor records a span."""

import subprocess
import sys
from pathlib import Path

from shared.tracing import Tracing

LOADS_NOTHING = """
import sys
from producer_service.app import create_app
from shared.settings import Settings
from worker_service.worker import Worker
settings = Settings(data_dir=sys.argv[1])
create_app(settings)
Worker(settings)
loaded = [m for m in sys.modules if m.startswith(("opentelemetry.sdk", "opentelemetry.inst"))]
assert not loaded, loaded
"""


def test_without_an_endpoint_no_span_is_recorded() -> None:
    tracing = Tracing.start(None, "resize-api")
    with tracing.tracer.start_as_current_span("resize.attempt") as span:
        assert not span.is_recording()
    assert not tracing.is_on


def test_without_an_endpoint_neither_service_loads_the_sdk(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOADS_NOTHING, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr

"""What both services' Prometheus registries start with: the usual process metrics.

Each service builds its own `CollectorRegistry` per instance rather than using
prometheus_client's global one: tests build many apps and workers in one process, and the
global registry refuses a second metric of the same name.
"""

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)


def registry_with_process_metrics() -> CollectorRegistry:
    """A new registry with CPU, memory, open files (`process_*`), the Python version
    (`python_info`) and garbage collections (`python_gc_*`) of this process."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry

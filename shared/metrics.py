"""What both services' Prometheus registries start with: the usual process metrics and the
broker's outages (`resize_broker_outages_total`, `resize_broker_outage_active`).

Each service builds its own `CollectorRegistry` per instance rather than using
prometheus_client's global one: tests build many apps and workers in one process, and the
global registry refuses a second metric of the same name.
"""

from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shared.outages import outage_figures


def registry_with_process_metrics() -> CollectorRegistry:
    """A new registry with CPU, memory, open files (`process_*`), the Python version
    (`python_info`) and garbage collections (`python_gc_*`) of this process."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    registry.register(BrokerOutages())
    return registry


class BrokerOutages(Collector):
    """The outages `shared.outages` has seen in this process, read at each scrape."""

    def collect(self) -> Iterator[Metric]:
        begun, lasting = outage_figures()
        yield CounterMetricFamily(
            "resize_broker_outages",
            "Times this process lost its broker connection (each outage once, however many "
            "reconnect tries it took).",
            value=begun,
        )
        yield GaugeMetricFamily(
            "resize_broker_outage_active",
            "1 while this process has lost its broker connection and is reconnecting, else 0.",
            value=int(lasting),
        )

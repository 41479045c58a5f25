"""A broker outage in the logs: one WARNING when the connection is lost, one INFO when it is back,
each naming the node (`host:port`): with a cluster, the one lost and the one it came back on.

While a robust connection is down, aio-pika retries every RECONNECT_INTERVAL_SECONDS and it and
aiormq log each try (a failed connect, a closed transport, channels that could not reopen), with
tracebacks: a line or more a second for as long as the outage lasts. `OutageLog` watches the
connection and says it once each way; `BrokerNoise`, a filter on the log handler, drops
aio-pika's and aiormq's records meanwhile, and the few that announce an outage just before
aio-pika reports it lost. Their other records (a connection blocked by a broker alarm, a
consumer callback that failed) still come through.
"""

import logging
import time
from typing import ClassVar

from aio_pika.abc import AbstractConnection, AbstractRobustConnection

from shared.cluster import node_of

logger = logging.getLogger(__name__)

_LIBRARIES = ("aio_pika", "aiormq")
# What aiormq logs as a connection fails, before aio-pika hears of it (and, for a connect that
# fails, besides the error its caller gets): beginnings of their messages.
_ANNOUNCING = (
    "Cancelling cause reader exited abnormally",
    "Unexpected connection close from remote",
    "Server connection %r was stuck",
    "error when creating transport",
)

# The watches whose connection is down now.
_down: set["OutageLog"] = set()


class BrokerNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(_LIBRARIES):
            return True
        if _down:
            return False
        return not str(record.msg).startswith(_ANNOUNCING)


class OutageLog:
    """Logs the outages of one robust connection: `watch` it once it is set up."""

    begun: ClassVar[int] = 0  # outages of every watched connection of this process

    def __init__(self) -> None:
        self._lost_at: float | None = None

    def watch(self, connection: AbstractRobustConnection) -> None:
        connection.close_callbacks.add(self._closed)
        connection.reconnect_callbacks.add(self._reconnected)

    def _closed(
        self, connection: AbstractConnection | None, error: BaseException | None, /
    ) -> None:
        if connection is None or connection.close_called:
            _down.discard(self)  # closed by its owner: not an outage, and no coming back
            return
        if self._lost_at is not None:
            return  # a reconnect try that failed
        self._lost_at = time.monotonic()
        _down.add(self)
        OutageLog.begun += 1
        logger.warning(
            "broker connection lost (%s) at %s; reconnecting",
            describe(error),
            node_of(str(connection)),
        )

    def _reconnected(self, connection: AbstractRobustConnection | None, /) -> None:
        if self._lost_at is None:
            return
        elapsed = time.monotonic() - self._lost_at
        self._lost_at = None
        _down.discard(self)
        where = "" if connection is None else f", at {node_of(str(connection))}"
        logger.info("broker connection back after %.1f s%s", elapsed, where)


def outage_figures() -> tuple[int, bool]:
    """How many outages began in this process, and whether one lasts now (for the metrics)."""
    return OutageLog.begun, bool(_down)


def describe(error: BaseException | None) -> str:
    if error is None:
        return "closed"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__

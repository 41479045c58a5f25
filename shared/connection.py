"""How both services reach the broker: one robust, named connection, set up as one step.

Connecting and setting up (declaring the topology, opening channels, starting consumers) is
retried as a whole: a connection cut half-way through the set-up is thrown away and the next try
starts from scratch, after a backoff that doubles up to a cap, with jitter so a fleet of workers
restarting together does not reconnect in step. Once set up, aio-pika's robust connection
restores channels, queues and consumers by itself after every outage, which `OutageLog` reports
in two lines.
"""

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aio_pika
from aio_pika.abc import AbstractRobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, ProbableAuthenticationError

from shared.outages import OutageLog

logger = logging.getLogger(__name__)

T = TypeVar("T")

CONNECT_TIMEOUT_SECONDS = 5.0
# How often a robust connection retries once it was up (an outage, not a start-up).
RECONNECT_INTERVAL_SECONDS = 1.0
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 15.0


def failure_reason(error: BaseException) -> str:
    """Why the broker could not be reached, in a word or two: wrong credentials are not an
    outage, and an operator reading `/readyz` or a log line should see which it is."""
    if isinstance(error, ProbableAuthenticationError):
        return "login refused"
    return "unreachable"


def backoff_seconds(failures: int) -> float:
    """Wait before try `failures + 1`: doubling from the first backoff, capped, with jitter."""
    ceiling = min(FIRST_BACKOFF_SECONDS * 2 ** (failures - 1), MAX_BACKOFF_SECONDS)
    return random.uniform(ceiling / 2, ceiling)


async def connect(url: str, name: str) -> AbstractRobustConnection:
    return await aio_pika.connect_robust(
        url,
        client_properties={"connection_name": name},
        timeout=CONNECT_TIMEOUT_SECONDS,
        reconnect_interval=RECONNECT_INTERVAL_SECONDS,
    )


async def connect_and_set_up(
    url: str,
    name: str,
    set_up: Callable[[AbstractRobustConnection], Awaitable[T]],
    stop: asyncio.Event | None = None,
    on_failure: Callable[[str], None] | None = None,
) -> tuple[AbstractRobustConnection, T] | None:
    """Connect and run `set_up` on the connection, retrying both together until they succeed;
    `on_failure` hears each failed try's `failure_reason`.

    Returns the connection and what `set_up` returned, or None once `stop` is set.
    """
    stop = stop or asyncio.Event()
    failures = 0
    while not stop.is_set():
        connection: AbstractRobustConnection | None = None
        try:
            connection = await connect(url, name)
            result = await set_up(connection)
            OutageLog().watch(connection)
            return connection, result
        except CONNECTION_EXCEPTIONS as exc:
            failures += 1
            delay = backoff_seconds(failures)
            step = "set-up" if connection is not None else "connect"
            reason = failure_reason(exc)
            if on_failure is not None:
                on_failure(reason)
            logger.warning(
                "broker %s failed: %s (%s); trying again in %.1f s", step, reason, exc, delay
            )
            if connection is not None:
                with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                    await connection.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
    return None

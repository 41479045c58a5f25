"""How both services reach the broker: one robust, named connection, set up as one step.

Connecting and setting up (declaring the topology, opening channels, starting consumers) is
retried as a whole: a connection cut half-way through the set-up is thrown away and the next try
starts from scratch. AMQP_URL may list a cluster's nodes: tries go through them in the order
listed, the next node at once after a failure, and only after a whole round has failed comes a
backoff that doubles up to a cap, with jitter so a fleet of workers restarting together does not
reconnect in step. Once set up, the robust connection (`ClusterConnection`) restores channels,
queues and consumers by itself after every outage, on the next node that answers, which
`OutageLog` reports in two lines.

A robust connection tries to connect in a task of its own, which outlives whoever awaited the
connect and swallows one cancel: a try given up in any way (failed, stopped, cancelled) closes
its connection, or that task reconnects for ever and `asyncio.run` never returns.
"""

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from aio_pika.abc import AbstractRobustConnection
from aio_pika.connection import make_url
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, ProbableAuthenticationError

from shared.cluster import ClusterConnection, node_of
from shared.outages import OutageLog

logger = logging.getLogger(__name__)

T = TypeVar("T")

CONNECT_TIMEOUT_SECONDS = 5.0
# How often a robust connection retries once it was up (an outage, not a start-up).
RECONNECT_INTERVAL_SECONDS = 1.0
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 15.0


LOGIN_REFUSED = "login refused"
UNREACHABLE = "unreachable"


def failure_reason(error: BaseException) -> str:
    """Why a broker node could not be reached, in a word or two: wrong credentials are not an
    outage, and an operator reading `/readyz` or a log line should see which it is."""
    if isinstance(error, ProbableAuthenticationError):
        return LOGIN_REFUSED
    return UNREACHABLE


def round_reason(reasons: Sequence[str]) -> str:
    """What a round of failed tries over the nodes says: a node that refused the login is
    answering, and its credentials are what needs fixing, however many others are down."""
    return LOGIN_REFUSED if LOGIN_REFUSED in reasons else UNREACHABLE


def backoff_seconds(failures: int) -> float:
    """Wait before try `failures + 1`: doubling from the first backoff, capped, with jitter."""
    ceiling = min(FIRST_BACKOFF_SECONDS * 2 ** (failures - 1), MAX_BACKOFF_SECONDS)
    return random.uniform(ceiling / 2, ceiling)


class _Stopped(Exception):
    """The stop event was set while a step of the set-up ran."""


async def connect(urls: Sequence[str], first: int, name: str) -> ClusterConnection:
    """A robust connection to `urls[first]`, which moves on to the next node when it goes."""
    # Not `aio_pika.connect_robust`: it drops its connection, still trying, when cancelled.
    connection = ClusterConnection(
        [make_url(url, reconnect_interval=RECONNECT_INTERVAL_SECONDS) for url in urls],
        first,
        client_properties={"connection_name": name},
    )
    try:
        await connection.connect(timeout=CONNECT_TIMEOUT_SECONDS)
    except BaseException:
        await _close_quietly(connection)
        raise
    return connection


async def _close_quietly(connection: AbstractRobustConnection) -> None:
    with contextlib.suppress(*CONNECTION_EXCEPTIONS):
        await connection.close()


async def _unless_stopped(stop: asyncio.Event, step: Awaitable[T]) -> T:
    """`step`'s result; raises `_Stopped`, with `step` cancelled, when `stop` is set first."""
    work = asyncio.ensure_future(step)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not work.done():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
    if work not in done:
        raise _Stopped
    return work.result()


async def connect_and_set_up(
    urls: Sequence[str],
    name: str,
    set_up: Callable[[AbstractRobustConnection], Awaitable[T]],
    stop: asyncio.Event | None = None,
    on_failure: Callable[[str], None] | None = None,
) -> tuple[AbstractRobustConnection, T] | None:
    """Connect to one of the nodes `urls` lists and run `set_up` on the connection, retrying
    both together until they succeed; `on_failure` hears, after each failed try, the
    `round_reason` of the last round of tries.

    Returns the connection and what `set_up` returned, or None once `stop` is set: a try under
    way then is cancelled, so a stop waits neither for a connect timeout nor for a set-up.
    """
    stop = stop or asyncio.Event()
    reasons: list[str] = []
    while not stop.is_set():
        node = len(reasons) % len(urls)
        connection: ClusterConnection | None = None
        try:
            connection = await _unless_stopped(stop, connect(urls, node, name))
            result = await _unless_stopped(stop, set_up(connection))
        except BaseException as exc:
            if connection is not None:
                await _close_quietly(connection)
            if isinstance(exc, _Stopped):
                return None
            if not isinstance(exc, CONNECTION_EXCEPTIONS):
                raise  # cancelled, or a bug: not a try to repeat
            reasons.append(failure_reason(exc))
            if on_failure is not None:
                on_failure(round_reason(reasons[-len(urls) :]))
            rounds, untried = divmod(len(reasons), len(urls))
            delay = backoff_seconds(rounds) if untried == 0 else 0.0
            logger.warning(
                "broker %s failed at %s: %s (%s); %s",
                "set-up" if connection is not None else "connect",
                node_of(urls[node]),
                reasons[-1],
                exc,
                f"trying again in {delay:.1f} s" if delay else f"trying {node_of(urls[untried])}",
            )
        else:
            logger.info("connected to the broker at %s as %s", connection.node, name)
            OutageLog().watch(connection)
            return connection, result
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
    return None

"""How every consumer ends a delivery: it decides an outcome, and `settle` is the only code that
acks, rejects, nacks or forwards, for the worker's tasks, the API's events and its webhook tries:

    Ack         the delivery is done with (or was already)
    DeadLetter  for good: reject without requeue, into the queue's dead-letter target if it
                has one (the work queues' {q}.dead), else dropped
    Forward     publish a copy (a retry through a delay tier, a re-run), then ack the original;
                if the copy cannot be published, nack with requeue so the broker keeps it
    Requeue     nack with requeue, after a pause if what failed needs a moment (a job store
                that is down), so the delivery comes back rather than spins

A channel gone before the settle changes nothing: the broker has put the delivery back, and
every consumer here makes a repeated delivery harmless.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aio_pika.abc import AbstractIncomingMessage
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, AMQPError, ChannelInvalidStateError

logger = logging.getLogger(__name__)

# Broker trouble while publishing (no confirm in time, a closed channel or connection): the
# delivery is then left to the broker.
BROKER_ERRORS = (TimeoutError, AMQPError, ChannelInvalidStateError, ConnectionError)

Body = TypeVar("Body")


@dataclass(frozen=True)
class Ack:
    pass


@dataclass(frozen=True)
class DeadLetter:
    pass


@dataclass(frozen=True)
class Forward(Generic[Body]):
    body: Body
    queue: str
    # The copy's own expiration in a delay tier (a jittered backoff); None: the tier's TTL.
    expiration_ms: int | None = None


@dataclass(frozen=True)
class Requeue:
    pause_seconds: float = 0.0


Outcome = Ack | DeadLetter | Forward[Any] | Requeue

# Publishes a forwarded copy, confirmed; raises one of BROKER_ERRORS when the broker did not
# take it.
Republish = Callable[[Forward[Any]], Awaitable[None]]


async def settle(
    message: AbstractIncomingMessage, outcome: Outcome, republish: Republish | None = None
) -> None:
    """End `message` as `outcome` says; a `Forward` needs `republish`."""
    try:
        match outcome:
            case Ack():
                await message.ack()
            case DeadLetter():
                await message.reject(requeue=False)
            case Requeue(pause_seconds):
                if pause_seconds:
                    await asyncio.sleep(pause_seconds)
                await message.nack(requeue=True)
            case Forward(_, queue):
                assert republish is not None, "a consumer that forwards gives settle a republish"
                await _forward(message, outcome, queue, republish)
    except CONNECTION_EXCEPTIONS as exc:
        logger.warning(
            "delivery %s not settled (%r); the broker redelivers it", message.message_id, exc
        )


async def _forward(
    message: AbstractIncomingMessage, outcome: Forward[Any], queue: str, republish: Republish
) -> None:
    try:
        await republish(outcome)
    except BROKER_ERRORS as exc:
        logger.warning("forward to %s failed: %r", queue, exc)
        await message.nack(requeue=True)
    else:
        await message.ack()

"""Telling every worker that a job was cancelled, on the `{q}.cancels` fanout exchange.

A notice is only the fast path: the marker the API writes to storage first is what stops the
job (workers look at it before taking a slot, once they have it, and before the manifest).
So a notice the broker does not confirm is logged, not raised: the cancel still holds, the
worker holding the job only notices it later.
"""

import asyncio
import logging
from typing import Protocol

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from shared.messages import CANCEL_TYPE, CancelNotice, message_properties
from shared.settle import BROKER_ERRORS
from shared.topology import Topology

logger = logging.getLogger(__name__)


class CancelNotices(Protocol):
    async def announce(self, notice: CancelNotice) -> bool:
        """Whether the broker confirmed the notice."""


class CancelNoticePublisher:
    def __init__(self, topology: Topology, timeout_seconds: float) -> None:
        self._topology = topology
        self._timeout = timeout_seconds
        self._channel: AbstractChannel | None = None

    async def attach(self, connection: AbstractRobustConnection) -> None:
        # Not mandatory: with no worker running, nothing is bound, and that is no failure.
        self._channel = await connection.channel(publisher_confirms=True)

    async def announce(self, notice: CancelNotice) -> bool:
        if self._channel is None:
            return False
        message = aio_pika.Message(
            notice.model_dump_json().encode(),
            **message_properties(f"{notice.job_id}:{notice.run}", CANCEL_TYPE, "producer_service"),
        )
        try:
            exchange = await self._channel.get_exchange(
                self._topology.cancels_exchange, ensure=False
            )
            async with asyncio.timeout(self._timeout):
                await exchange.publish(message, routing_key="", mandatory=False)
        except BROKER_ERRORS as exc:
            logger.warning("cancel notice not confirmed (the marker still holds): %r", exc)
            return False
        return True

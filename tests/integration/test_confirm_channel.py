"""`ConfirmChannel`: a nack moves publishing to a new channel (what gets a service out of a
channel RabbitMQ 3.10 nacks for good after a quorum queue's leader died; tests/cluster), at most
once a second, and the old channel is closed once publishes under way on it are over."""

from collections.abc import Callable

import aio_pika
import pytest
from aio_pika.exceptions import DeliveryError

from shared.cluster import ConfirmChannel
from shared.declare import declare_topology
from shared.settings import Settings
from shared.topology import DEFAULT_EXCHANGE, Topology
from tests.support import wait_for


async def test_a_nack_moves_publishing_to_a_new_channel_at_most_once_a_second(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(max_queued_jobs=1, publish_timeout_seconds=0.5)
    topology = Topology.from_settings(settings)
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        confirm = await ConfirmChannel.open(connection, settings.publish_timeout_seconds)
        await declare_topology(connection, confirm.channel, topology)
        first = confirm.channel
        await confirm.publish(DEFAULT_EXCHANGE, aio_pika.Message(b"1"), topology.work_queue)
        with pytest.raises(DeliveryError):  # the queue is full
            await confirm.publish(DEFAULT_EXCHANGE, aio_pika.Message(b"2"), topology.work_queue)
        second = confirm.channel
        assert second is not first
        with pytest.raises(DeliveryError):  # within the second: no new channel
            await confirm.publish(DEFAULT_EXCHANGE, aio_pika.Message(b"3"), topology.work_queue)
        assert confirm.channel is second

        async def first_closed() -> bool:
            return first.is_closed

        await wait_for(first_closed, within=5, what="the old channel to close")
        assert not second.is_closed

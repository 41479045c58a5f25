"""Declaring the topology against a broker where it already exists, possibly with old arguments."""

import logging
from collections.abc import Callable

import aio_pika
import pytest
from aio_pika.exceptions import ChannelPreconditionFailed, DeliveryError

from shared.declare import declare_topology
from shared.settings import Settings
from shared.topology import Topology


async def declare(settings: Settings) -> None:
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        await declare_topology(connection, channel, Topology.from_settings(settings))


async def publish(settings: Settings, body: bytes) -> None:
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.default_exchange.publish(
            aio_pika.Message(body), routing_key=settings.queue_name
        )


async def ready(settings: Settings) -> int:
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(settings.queue_name, passive=True)
        count = queue.declaration_result.message_count
        assert count is not None
        return count


async def test_declaring_twice_changes_nothing(broker: Settings) -> None:
    await declare(broker)
    await publish(broker, b"waiting job")
    await declare(broker)
    assert await ready(broker) == 1


async def test_an_empty_queue_with_an_old_cap_is_recreated_with_the_new_one(
    broker_settings: Callable[..., Settings],
) -> None:
    old = broker_settings(max_queued_jobs=100)
    await declare(old)
    new = broker_settings(queue_name=old.queue_name, max_queued_jobs=1)
    await declare(new)
    await publish(new, b"first")
    with pytest.raises(DeliveryError):
        await publish(new, b"second")


async def test_a_queue_holding_jobs_keeps_its_old_cap_and_its_jobs(
    broker_settings: Callable[..., Settings],
) -> None:
    old = broker_settings(max_queued_jobs=100)
    await declare(old)
    await publish(old, b"waiting job")
    new = broker_settings(queue_name=old.queue_name, max_queued_jobs=1)
    await declare(new)
    await publish(new, b"still accepted under the old cap")
    assert await ready(new) == 2


async def test_quorum_work_queues_are_quorum_queues_and_an_empty_deployment_can_switch(
    broker_settings: Callable[..., Settings],
) -> None:
    classic = broker_settings()
    await declare(classic)
    quorum = broker_settings(queue_name=classic.queue_name, queue_type="quorum")
    await declare(quorum)  # every queue still empty: re-created as quorum queues
    topology = Topology.from_settings(quorum)
    as_classic = {spec.name: spec.arguments for spec in Topology.from_settings(classic).queues()}
    connection = await aio_pika.connect(quorum.amqp_url)
    async with connection:
        for name in (topology.work_queue, topology.retry_queue, topology.dead_letter_queue):
            with pytest.raises(ChannelPreconditionFailed, match="x-queue-type"):
                async with connection.channel() as channel:
                    await channel.declare_queue(name, durable=True, arguments=as_classic[name])
    await publish(quorum, b"a job")
    assert await ready(quorum) == 1


async def test_a_live_classic_deployment_switched_to_quorum_starts_and_keeps_what_waits(
    broker_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    # One backoff tier, of a minute: what waits there stays while the test looks.
    long_backoff = {"max_attempts": 2, "retry_base_delay_seconds": 60}
    classic = broker_settings(**long_backoff)
    await declare(classic)
    topology = Topology.from_settings(classic)
    (tier,) = topology.retry_delays_ms
    waiting = [topology.events_queue, topology.delay_queue(tier)]
    connection = await aio_pika.connect(classic.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        # An event not yet applied, and a job waiting out its backoff.
        for queue in waiting:
            await channel.default_exchange.publish(aio_pika.Message(b"waiting"), routing_key=queue)
    quorum = broker_settings(queue_name=classic.queue_name, queue_type="quorum", **long_backoff)
    with caplog.at_level(logging.WARNING, logger="shared.declare"):
        await declare(quorum)  # a restart with QUEUE_TYPE=quorum: no refusal, no crash loop
        await declare(quorum)  # and the next one
    kept = {r.getMessage().split()[1] for r in caplog.records if "keeping it" in r.getMessage()}
    assert kept == set(waiting)
    connection = await aio_pika.connect(quorum.amqp_url)
    async with connection:
        channel = await connection.channel()
        for queue in waiting:
            held = await channel.declare_queue(queue, passive=True)
            assert held.declaration_result.message_count == 1
    await publish(quorum, b"a job")  # the empty work queue became a quorum queue
    assert await ready(quorum) == 1

"""Declaring `shared.topology` on the broker: both services call `declare_topology` on connect,
so whichever starts first creates everything and neither can drift from the other."""

import asyncio
import logging
from collections.abc import Iterable

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection
from aio_pika.exceptions import ChannelPreconditionFailed

from shared.topology import QueueSpec, Topology

logger = logging.getLogger(__name__)

DELETING_CHANNELS = 4


async def declare_topology(
    connection: AbstractConnection, channel: AbstractChannel, topology: Topology
) -> None:
    """Declare every exchange, queue and binding on `channel` (idempotent).

    A queue that exists with other arguments (MAX_QUEUED_JOBS changed, say) is re-created with
    the new ones if it is empty and unused, and otherwise kept as it is, with a warning: the
    service never refuses to start, nor drops a waiting job, over a changed setting.
    """
    for exchange in topology.topic_exchanges():
        await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    for exchange in topology.fanout_exchanges():
        await channel.declare_exchange(exchange, aio_pika.ExchangeType.FANOUT, durable=True)
    await declare_queues(connection, channel, topology.queues())
    for binding in topology.bindings():
        queue = await channel.get_queue(binding.queue, ensure=False)
        await queue.bind(binding.exchange, binding.routing_key)


async def declare_queues(
    connection: AbstractConnection, channel: AbstractChannel, specs: Iterable[QueueSpec]
) -> None:
    """Declare each durable queue, keeping one that exists with other arguments and holds
    messages (see `declare_topology`). Each is first declared on a probe channel of its own, all
    at once (a start-up then waits for about one round trip, not one per queue), then on
    `channel`, whose robust side declares it again after an outage."""
    specs = list(specs)
    # Every probe channel is open before any declare, and one more (the guard) until the
    # re-creations are done: a refused declare closes its channel, and aiormq numbers a new
    # channel from the highest open one, so a channel opened meanwhile could get a number the
    # broker is still closing (which ends the whole connection).
    channels: list[AbstractChannel] = []  # a probe a queue, then the guard
    try:
        for _ in range(len(specs) + 1):
            channels.append(await connection.channel())
        declared = await asyncio.gather(
            *(_declared(probe, spec) for probe, spec in zip(channels[:-1], specs, strict=True))
        )
        applies = [
            done or await _recreated(connection, spec)
            for spec, done in zip(specs, declared, strict=True)
        ]
    finally:
        for opened in channels:
            await opened.close()
    for spec, applied in zip(specs, applies, strict=True):
        if applied:
            await channel.declare_queue(spec.name, durable=True, arguments=spec.arguments)
        else:
            await channel.declare_queue(spec.name, passive=True)


async def delete_topology(connection: AbstractConnection, topology: Topology) -> None:
    """Remove every queue and exchange of `topology`, the API's webhook queues too: how tests
    and the benchmark clean up. Deletes never refuse, so they share a few channels at once."""
    channels = [await connection.channel() for _ in range(DELETING_CHANNELS)]
    queues = [spec.name for spec in [*topology.queues(), *topology.webhook_queues()]]
    exchanges = [*topology.topic_exchanges(), *topology.fanout_exchanges()]
    await asyncio.gather(
        *(channels[i % len(channels)].queue_delete(name) for i, name in enumerate(queues)),
        *(channels[i % len(channels)].exchange_delete(name) for i, name in enumerate(exchanges)),
    )
    for channel in channels:
        await channel.close()


async def _declared(probe: AbstractChannel, spec: QueueSpec) -> bool:
    """Whether `spec.name` now exists with `spec.arguments` (False: with other ones)."""
    try:
        await probe.declare_queue(spec.name, durable=True, arguments=spec.arguments)
    except ChannelPreconditionFailed:
        return False
    return True


async def _recreated(connection: AbstractConnection, spec: QueueSpec) -> bool:
    """Delete a queue that has other arguments if it is empty and unused (True: it can be
    declared anew); otherwise keep it, with a warning."""
    try:
        async with connection.channel() as probe:
            await probe.queue_delete(spec.name, if_unused=True, if_empty=True)
    except ChannelPreconditionFailed:
        logger.warning(
            "queue %s exists with other arguments and is in use or holds messages; keeping it "
            "as it is (wanted %s): delete it, or set a policy, to apply the new settings",
            spec.name,
            spec.arguments,
        )
        return False
    logger.warning(
        "queue %s was empty and had other arguments; re-created it with %s",
        spec.name,
        spec.arguments,
    )
    return True

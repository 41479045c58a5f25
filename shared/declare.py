"""Declaring `shared.topology` on the broker: both services call `declare_topology` on connect,
so whichever starts first creates everything and neither can drift from the other."""

import logging
from collections.abc import Iterable

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection
from aio_pika.exceptions import ChannelPreconditionFailed

from shared.topology import QueueSpec, Topology

logger = logging.getLogger(__name__)


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
    messages (see `declare_topology`)."""
    for spec in specs:
        if await _arguments_apply(connection, spec):
            await channel.declare_queue(spec.name, durable=True, arguments=spec.arguments)
        else:
            await channel.declare_queue(spec.name, passive=True)


async def delete_topology(channel: AbstractChannel, topology: Topology) -> None:
    """Remove every queue and exchange of `topology`, the API's webhook queues too: how tests
    and the benchmark clean up."""
    for spec in [*topology.queues(), *topology.webhook_queues()]:
        await channel.queue_delete(spec.name)
    for exchange in [*topology.topic_exchanges(), *topology.fanout_exchanges()]:
        await channel.exchange_delete(exchange)


async def _arguments_apply(connection: AbstractConnection, spec: QueueSpec) -> bool:
    """True once `spec.name` exists with `spec.arguments`; a refused declare closes the channel
    it was made on, so each try gets a channel of its own."""
    try:
        async with connection.channel() as probe:
            await probe.declare_queue(spec.name, durable=True, arguments=spec.arguments)
        return True
    except ChannelPreconditionFailed:
        pass
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

"""A robust connection to a broker cluster: one node at a time, the next one when it goes.

aio-pika's `RobustConnection` reconnects to its one `url` for ever. `ClusterConnection` is that
connection with the cluster's node list: whenever its connection closes without being asked to
(a lost node, a failed try to connect, a restore that failed after connecting), its `url` moves
to the next node, so the robust connection's own reconnect loop goes round the nodes, restoring
channels, queues and consumers on whichever answers. Round-robin rather than "back to the first
one": the node just lost is the last to be tried again.

What it relies on (aio-pika 10.2, pinned in pyproject.toml and held by tests/unit/test_cluster):
every close and every failed try passes through `Connection._on_connection_close`, and each try
to connect reads the public `url` attribute anew.
"""

import asyncio
from collections.abc import Sequence
from typing import Any

from aio_pika import RobustConnection
from yarl import URL

DEFAULT_PORTS = {"amqp": 5672, "amqps": 5671}


def node_of(url: URL | str) -> str:
    """`host:port` of a broker URL, for logs: never its credentials."""
    url = URL(url)
    return f"{url.host}:{url.explicit_port or DEFAULT_PORTS.get(url.scheme, 5672)}"


class ClusterConnection(RobustConnection):
    def __init__(self, nodes: Sequence[URL], first: int = 0, **kwargs: Any) -> None:
        """A connection that tries `nodes[first]` first, then each next node in turn."""
        self.nodes = tuple(nodes)
        self._at = first % len(self.nodes)
        super().__init__(self.nodes[self._at], **kwargs)

    @property
    def node(self) -> str:
        """The node connected to (or being tried), as `host:port`."""
        return node_of(self.url)

    async def _on_connection_close(self, closing: asyncio.Future[Any]) -> None:
        # The close callbacks (the outage log) still see the node that closed.
        await super()._on_connection_close(closing)
        if not self.close_called:
            self._at = (self._at + 1) % len(self.nodes)
            self.url = self.nodes[self._at]

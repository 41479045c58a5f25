"""Which runs were cancelled, as this worker learns it, and the stop switch of each attempt.

Two sources, for two purposes:

    the marker  `cancels/{job}/{run}` in storage, written by the API before it answers: what
                holds across restarts of anything. The handler looks for it before a delivery
                takes a slot, once it has one, and before the manifest (`check`).
    a notice    on `{q}.cancels` (fanout, one exclusive queue per worker): what makes it quick.
                A running attempt of that run has its stop event set at once, which interrupts
                libvips (`worker_service.cancel`); a task still in this worker's prefetch finds
                the run remembered when its turn comes, without asking storage.

Notices are remembered for the last `REMEMBERED` runs only: the marker is the truth, memory
only spares a look at storage.
"""

import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from uuid import UUID

from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from pydantic import ValidationError

from shared import layout
from shared.messages import CancelNotice, ResizeTask
from shared.storage import Storage
from shared.topology import Topology
from worker_service.errors import JobCancelled
from worker_service.job_files import storage_errors

logger = logging.getLogger(__name__)

REMEMBERED = 10_000

Run = tuple[UUID, int]


class Attempt:
    """One running attempt: `stop` is handed to libvips' work; `cancelled` tells a cancel
    from a timeout, which sets the same event."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        self.stop.set()


class Revocations:
    def __init__(self, storage: Storage, topology: Topology) -> None:
        self._storage = storage
        self._topology = topology
        self._heard: OrderedDict[Run, None] = OrderedDict()
        self._running: dict[Run, set[Attempt]] = {}

    async def attach(self, connection: AbstractRobustConnection) -> None:
        """Hear every notice: a queue of this worker's own, bound to the fanout exchange
        (declared with the rest of the topology) and re-declared by each reconnect."""
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(self._topology.cancels_exchange, "")
        await queue.consume(self._on_notice, no_ack=True)

    async def _on_notice(self, message: AbstractIncomingMessage) -> None:
        try:
            notice = CancelNotice.model_validate_json(message.body)
        except ValidationError:
            logger.warning("ignored a cancel notice that is not one: %r", message.body[:200])
            return
        self.hear((notice.job_id, notice.run))

    def hear(self, run: Run) -> None:
        """Run `run` was cancelled: stop its attempts here, and remember it."""
        self._remember(run)
        for attempt in self._running.get(run, ()):
            logger.info("job %s run %d cancelled: stopping it", *run)
            attempt.cancel()

    @contextlib.contextmanager
    def running(self, task: ResizeTask) -> Iterator[Attempt]:
        """An attempt of `task`, stopped by a notice of its run while the block runs."""
        run = (task.job_id, task.run)
        attempt = Attempt()
        if run in self._heard:
            attempt.cancel()
        self._running.setdefault(run, set()).add(attempt)
        try:
            yield attempt
        finally:
            self._running[run].discard(attempt)
            if not self._running[run]:
                del self._running[run]

    async def check(self, task: ResizeTask, attempt: Attempt | None = None) -> None:
        """`JobCancelled` if `task`'s run was cancelled; storage that cannot tell is a
        `TransientFailure` (retried: the job must not run on a guess)."""
        run = (task.job_id, task.run)
        if (attempt is not None and attempt.cancelled) or run in self._heard:
            raise JobCancelled
        with storage_errors():
            marked = await self._storage.exists(layout.cancel_key(task.job_id, task.run))
        if marked:
            self._remember(run)
            raise JobCancelled

    def _remember(self, run: Run) -> None:
        self._heard[run] = None
        self._heard.move_to_end(run)
        while len(self._heard) > REMEMBERED:
            self._heard.popitem(last=False)

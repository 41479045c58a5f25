"""In-memory stand-ins for the API's edges, for unit tests that need no broker."""

from producer_service.errors import BrokerUnavailable
from shared.messages import ResizeTask


class InMemoryPublisher:
    """A broker that confirms every task at once and keeps them in `tasks`, in order."""

    def __init__(self) -> None:
        self.tasks: list[ResizeTask] = []
        self.is_ready = True

    async def check(self) -> None:
        if not self.is_ready:
            raise BrokerUnavailable("The fake broker is down.", reason="unreachable")

    async def publish(self, task: ResizeTask) -> None:
        await self.check()
        self.tasks.append(task)

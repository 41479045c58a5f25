"""The API in process over an in-memory broker, with what it kept."""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from shared.settings import Settings
from tests.client import ApiClient
from tests.fakes import InMemoryPublisher
from tests.support.inspection import job_count, originals


@dataclass(frozen=True)
class Served:
    api: ApiClient
    settings: Settings
    publisher: InMemoryPublisher

    async def assert_nothing_kept(self) -> None:
        """No job row, no original, no upload left half-written, no task."""
        assert await job_count(self.settings) == 0
        assert originals(self.settings) == []
        assert list((self.settings.data_dir / "tmp").iterdir()) == []
        assert self.publisher.tasks == []


Serve = Callable[..., AbstractAsyncContextManager[Served]]

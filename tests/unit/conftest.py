"""The API in process over an in-memory broker, for tests of what it answers without one."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.settings import Settings
from tests.client import ApiClient
from tests.conftest import make_settings
from tests.fakes import InMemoryPublisher
from tests.support import job_count, originals, running_api


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


@pytest.fixture
def serve(tmp_path: Path) -> Serve:
    """Runs the API with the given settings over an in-memory broker."""

    @asynccontextmanager
    async def serving(**overrides: Any) -> AsyncIterator[Served]:
        settings = make_settings(tmp_path, **overrides)
        publisher = InMemoryPublisher()
        async with running_api(settings, publisher=publisher) as http:
            yield Served(ApiClient(http), settings, publisher)

    return serving

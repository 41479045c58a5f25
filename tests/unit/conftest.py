"""The API in process over an in-memory broker, for tests of what it answers without one; each
storage backend, for tests of what they all promise."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.settings import Settings
from shared.storage import LocalStorage, S3Storage, Storage
from shared.storage.memory import MemoryStorage
from tests.client import ApiClient
from tests.conftest import make_settings
from tests.fakes import InMemoryPublisher
from tests.s3 import Bucket
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


@pytest.fixture(params=["local", "s3", "memory"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    """Each backend in turn: files under a folder, a bucket on moto's S3 server, a dict."""
    if request.param == "local":
        yield LocalStorage(tmp_path / "data")
    elif request.param == "memory":
        yield MemoryStorage()
    else:
        # Only the S3 runs start moto (an async fixture cannot ask for another one).
        async with Bucket.of_own(request.getfixturevalue("s3_server")) as bucket:
            settings = make_settings(tmp_path, **bucket.settings())
            async with S3Storage.open(settings) as opened:
                yield opened

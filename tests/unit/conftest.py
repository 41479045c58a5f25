"""The API in process over an in-memory broker, for tests of what it answers without one; each
storage backend, for tests of what they all promise."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from shared.storage import LocalStorage, S3Storage, Storage
from shared.storage.memory import MemoryStorage
from tests.client import ApiClient
from tests.memory_broker import MemoryBroker
from tests.s3 import Bucket
from tests.support import make_settings, running_api
from tests.support.served import Serve, Served


@pytest.fixture
def serve(tmp_path: Path) -> Serve:
    """Runs the API with the given settings over an in-memory broker."""

    @asynccontextmanager
    async def serving(**overrides: Any) -> AsyncIterator[Served]:
        settings = make_settings(tmp_path, **overrides)
        broker = MemoryBroker()
        async with running_api(settings, in_process=broker) as http:
            yield Served(ApiClient(http), settings, broker)

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

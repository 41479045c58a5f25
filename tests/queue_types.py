"""`from tests.queue_types import each_queue_type` in a test module (or conftest) runs each of its
tests that use the broker on classic and on quorum queues: what the reliability tests do."""

import pytest


@pytest.fixture(params=["classic", "quorum"], name="queue_type")
def each_queue_type(request: pytest.FixtureRequest) -> str:
    return str(request.param)

"""Waiting on what a test cannot be told about: one poll loop, with a deadline."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

POLL_SECONDS = 0.05


async def polled(check: Callable[[], Awaitable[Any]], within: float) -> Any:
    """Poll `check` until it returns something truthy or `within` seconds have passed; what it
    returned last."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(POLL_SECONDS)


async def wait_for(
    check: Callable[[], Awaitable[Any]], within: float = 15, what: str = "condition"
) -> Any:
    """Poll `check` until it returns something truthy, or fail after `within` seconds."""
    result = await polled(check, within)
    if not result:
        raise AssertionError(f"timed out after {within}s waiting for {what}")
    return result

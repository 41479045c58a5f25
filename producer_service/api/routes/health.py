"""Liveness and readiness, for orchestrators and load balancers.

Readiness asks each dependency to do what a submit needs of it, at once and within a deadline:
the broker confirms a probe message, the job store starts (and rolls back) a write, the disk
takes a small synced file. Each check names why it fails (`unreachable`, `not confirming`,
`read-only`, `locked`, `full`, ...).
"""

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from producer_service.api.deps import PublisherDep, SettingsDep, StorageDep, StoreDep
from producer_service.api.problems import PROBLEM_MEDIA_TYPE, problem_response
from producer_service.errors import Unavailable
from producer_service.staging import check_writable

router = APIRouter(tags=["operations"])

CHECK_TIMEOUT_SECONDS = 2.0
# The store's own timeouts (DATABASE_TIMEOUT_SECONDS) end its check with a reason, such as
# `locked`; this deadline only catches a database that ignores them.
STORE_CHECK_MARGIN_SECONDS = 1.0


@router.get(
    "/healthz",
    summary="Is the process alive?",
    responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Can the API take jobs? (broker confirming, job store and disk writable)",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "status": "ready",
                        "checks": {"broker": "ok", "store": "ok", "storage": "ok"},
                    }
                }
            }
        },
        503: {
            "description": "The broker, the job store or the disk cannot take a job now.",
            "content": {
                PROBLEM_MEDIA_TYPE: {
                    "example": {
                        "type": "/problems/not-ready",
                        "title": "Not ready",
                        "status": 503,
                        "detail": "storage: full",
                        "checks": {"broker": "ok", "store": "ok", "storage": "full"},
                    }
                }
            },
        },
    },
)
async def readyz(
    settings: SettingsDep, store: StoreDep, storage: StorageDep, publisher: PublisherDep
) -> Any:
    store_deadline = settings.database_timeout_seconds + STORE_CHECK_MARGIN_SECONDS
    states = await asyncio.gather(
        _check(publisher.check, "not confirming"),
        _check(store.check_writable, "not answering in time", store_deadline),
        _check(functools.partial(check_writable, storage), "not answering in time"),
    )
    checks = dict(zip(("broker", "store", "storage"), states, strict=True))
    failing = [f"{name}: {state}" for name, state in checks.items() if state != "ok"]
    if failing:
        return problem_response(
            503,
            "not-ready",
            "Not ready",
            "; ".join(failing),
            headers={"Retry-After": "5"},
            checks=checks,
        )
    return JSONResponse({"status": "ready", "checks": checks})


async def _check(
    probe: Callable[[], Awaitable[None]], too_slow: str, deadline: float = CHECK_TIMEOUT_SECONDS
) -> str:
    try:
        async with asyncio.timeout(deadline):
            await probe()
    except TimeoutError:
        return too_slow
    except Unavailable as exc:
        return str(exc.extra.get("reason", "unavailable"))
    return "ok"

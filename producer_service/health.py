"""Liveness and readiness, for orchestrators and load balancers."""

import asyncio
import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from producer_service.dependencies import ServicesDep
from producer_service.problems import PROBLEM_MEDIA_TYPE, problem_response

logger = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])

STORE_PING_TIMEOUT_SECONDS = 2.0


@router.get(
    "/healthz",
    summary="Is the process alive?",
    responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Can the API take jobs? (broker connected and job store answering)",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {"status": "ready", "checks": {"broker": "ok", "store": "ok"}}
                }
            }
        },
        503: {
            "description": "Broker or job store is not answering.",
            "content": {
                PROBLEM_MEDIA_TYPE: {
                    "example": {
                        "type": "/problems/not-ready",
                        "title": "Not ready",
                        "status": 503,
                        "detail": "broker: unreachable",
                        "checks": {"broker": "unreachable", "store": "ok"},
                    }
                }
            },
        },
    },
)
async def readyz(services: ServicesDep) -> Any:
    checks = {
        "broker": "ok" if services.publisher.is_ready else "unreachable",
        "store": await _store_check(services),
    }
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


async def _store_check(services: ServicesDep) -> str:
    try:
        async with asyncio.timeout(STORE_PING_TIMEOUT_SECONDS):
            await services.store.ping()
    except (TimeoutError, SQLAlchemyError, OSError) as exc:
        logger.warning("job store not answering: %r", exc)
        return "unreachable"
    return "ok"

"""Browser pages on other origins (CORS_ORIGINS): what they may send and what they may read.

A frontend uploads with `Authorization` and `Idempotency-Key` (a preflighted request) and then
follows `Location`; it reads `Retry-After` to back off and `ETag` to revalidate an output. No
cookies are involved (keys travel as bearer tokens), so credentials stay off.
"""

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

ALLOWED_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "If-None-Match"]
EXPOSED_HEADERS = ["Location", "Retry-After", "ETag"]
# How long a browser may reuse a preflight answer.
PREFLIGHT_MAX_AGE_SECONDS = 600


def allow_browsers(app: FastAPI, origins: list[str]) -> None:
    """Answer CORS for exactly `origins`; nothing at all when there are none."""
    if not origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        max_age=PREFLIGHT_MAX_AGE_SECONDS,
    )

"""Requests for one job (`/v1/jobs/{id}` and below) are about that job: every line logged while
one is served carries its id, the access log line and any error among them."""

import re
import uuid

from starlette.types import ASGIApp, Receive, Scope, Send

from shared.log_context import about_job

_JOB_PATH = re.compile(r"/v1/jobs/(?P<id>[^/]+)")


class JobRequests:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        job_id = _job_in_path(scope) if scope["type"] == "http" else None
        if job_id is None:
            await self.app(scope, receive, send)
            return
        with about_job(job_id):
            await self.app(scope, receive, send)


def _job_in_path(scope: Scope) -> uuid.UUID | None:
    """The job id the path names; None for other paths and for what is no id."""
    match = _JOB_PATH.match(scope["path"])
    if match is None:
        return None
    try:
        return uuid.UUID(match["id"])
    except ValueError:
        return None

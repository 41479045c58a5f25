"""Counting and timing every HTTP request by the route that answered it.

A pure ASGI middleware: it watches the messages go by and holds nothing back, so a streamed
answer (a job's SSE stream lasts minutes) flows as it is made, and is counted when it ends.
Requests are labelled by the route's template (`/v1/jobs/{job_id}`), which the router leaves
in the scope, never by the raw path: one series per job id would grow without bound. A path
no route matched is `<unmatched>`, and a method no route has is `OTHER`, for the same reason.
"""

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producer_service.metrics import ApiMetrics

UNMATCHED = "<unmatched>"
METHODS = frozenset(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])


class RequestMetrics:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # What an error that escapes before any answer is sent becomes, further out.
        status = 500

        async def watching_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            route = route_template(scope)
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.request_duration.labels(method, route).observe(
                time.perf_counter() - started
            )


def route_template(scope: Scope) -> str:
    """The path template of the route the router chose (a mount's prefix for a mount)."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED

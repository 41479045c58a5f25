"""The one place errors become `application/problem+json` answers (RFC 9457)."""

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.utils import is_body_allowed_for_status_code
from starlette.exceptions import HTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producer_service.api.openapi import Amendment, Schema, operations
from producer_service.errors import ApiProblem, InvalidRequest
from shared.schemas import Problem

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem_type(slug: str) -> str:
    return f"/problems/{slug}"


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> ProblemResponse:
    body = Problem(type=problem_type(slug), title=title, status=status, detail=detail, **extra)
    return ProblemResponse(
        jsonable_encoder(body, exclude_none=True), status_code=status, headers=headers
    )


def problem_for(error: ApiProblem) -> ProblemResponse:
    headers = {}
    if error.retry_after_seconds is not None:
        headers["Retry-After"] = str(error.retry_after_seconds)
    if error.challenge is not None:
        headers["WWW-Authenticate"] = error.challenge
    return problem_response(
        error.status, error.slug, error.title, error.detail, headers or None, **error.extra
    )


async def _service_error(_: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, ApiProblem)
    return problem_for(exc)


async def _validation_error(_: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    return problem_for(InvalidRequest.from_errors(exc.errors()))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if not is_body_allowed_for_status_code(exc.status_code):
        return Response(status_code=exc.status_code, headers=exc.headers)  # a 204 or 304
    phrase = HTTPStatus(exc.status_code).phrase
    slug = phrase.lower().replace(" ", "-")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return problem_response(exc.status_code, slug, phrase, str(exc.detail), headers or None)


def _allowed_methods(request: Request) -> str:
    """The methods the OpenAPI document gives this path. Starlette's 405 names only those of
    the first route it tried, and the GET and the POST of one path are two routes."""
    for template, path_item in request.app.openapi()["paths"].items():
        if compile_path(template)[0].match(request.url.path):
            return ", ".join(sorted(method.upper() for method in path_item))
    return ""


class UnexpectedErrors:
    """The last resort: an error nothing else handled becomes a 500 problem, answered here.

    Starlette's own last resort re-raises the error to the server after answering, and uvicorn
    then closes the connection, so a client's next request on it fails; this one does not.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            logger.error("unhandled error on %s %s", scope["method"], scope["path"], exc_info=exc)
            if started:
                raise  # half an answer is out; only closing the connection can end it
            response = problem_response(
                500,
                "internal-error",
                "Internal server error",
                "The server failed; it has been logged.",
            )
            await response(scope, receive, send)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiProblem, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(UnexpectedErrors)


def problem_responses(
    *errors: type[ApiProblem], details: Mapping[str, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the given errors, each with a problem+json example; `details`
    gives a route's own example `detail` by slug, where the general one would not fit."""
    example_details = {**_EXAMPLE_DETAILS, **(details or {})}
    responses: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        entry = responses.setdefault(
            error.status,
            {"description": error.title, "model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}},
        )
        examples = entry["content"][PROBLEM_MEDIA_TYPE].setdefault("examples", {})
        examples[error.slug] = {
            "summary": error.title,
            "value": {
                "type": problem_type(error.slug),
                "title": error.title,
                "status": error.status,
                "detail": example_details.get(error.slug, error.title),
            },
        }
        if error.retry_after_seconds is not None:
            entry["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before trying again.",
                    "schema": {"type": "integer"},
                }
            }
        if error.challenge is not None:
            entry["headers"] = {
                "WWW-Authenticate": {
                    "description": "How to authenticate: `Bearer` with an API key "
                    "(or, where the route takes one, a browser token).",
                    "schema": {"type": "string"},
                }
            }
    return responses


_EXAMPLE_DETAILS = {
    "unauthorized": "Send an API key (or a browser token) as `Authorization: Bearer <key>`.",
    "payload-too-large": "The upload is larger than 52428800 bytes.",
    "unsupported-media-type": "The file is not an image this service reads (JPEG, PNG, ...).",
    "validation-error": "variants.0.width: Input should be less than or equal to 8192",
    "job-not-found": "No job has id 0b6f3c4e-8d1a-4c1e-9a57-3f0f1c2b7d10.",
    "output-not-found": "Job 0b6f3c4e-8d1a-4c1e-9a57-3f0f1c2b7d10 has no output named 'hero'.",
    "output-not-ready": "The job is processing; outputs exist once it has succeeded.",
    "job-not-failed": "Only a failed job can be retried; this one is succeeded.",
    "broker-unavailable": "The message broker did not confirm the task; try again shortly.",
    "queue-full": "Too many jobs are waiting; try again shortly.",
    "store-unavailable": "The job store is not answering; try again shortly.",
    "storage-unavailable": "The service cannot store files right now (full); try again later.",
    "idempotency-key-reused": "This Idempotency-Key was first used with a different file "
    "or variants.",
    "too-many-active-jobs": "This key already has 100 jobs queued or processing; "
    "submit more as they finish.",
    "idempotency-key-in-flight": "The first request with this Idempotency-Key is still being "
    "queued; send it again shortly.",
    "token-not-allowed": "A browser token can only submit jobs and read the jobs submitted "
    "with it; this needs the API key.",
    "tokens-need-keys": "This service runs without API_KEYS, so it mints no browser tokens: "
    "every request is allowed without one.",
    "invalid-callback-url": "callback_url must be an absolute https URL.",
    "callback-target-refused": "callback_url's host hooks.internal resolves to 10.0.0.7, "
    "which is not globally reachable (Private-Use, 10.0.0.0/8); webhooks go to public "
    "addresses only.",
    "invalid-source-url": "source_url must be an absolute https URL.",
    "source-url-refused": "source_url's host images.internal resolves to 169.254.169.254, "
    "which is not globally reachable (Link Local, 169.254.0.0/16); images are fetched from "
    "public addresses only.",
    "webhooks-not-configured": "This service sends no webhooks (its operator has not set "
    "WEBHOOK_SECRET); submit without callback_url.",
    "webhook-secrets-need-keys": "This service runs without API_KEYS: its webhooks are signed "
    "with WEBHOOK_SECRET itself, which its operator holds.",
}


# FastAPI's own 422 answer, which it adds to every route with parameters, whether or not they
# can fail validation; a route that can answer 422 declares `InvalidRequest` instead.
_STOCK_422 = "Validation Error"


def errors_as_problems(schema: Schema) -> None:
    """Make the OpenAPI document tell the truth: every error answer is problem+json, with the
    `Problem` schema and an example, and a route lists only the errors it can answer with."""
    problem_schema = {"$ref": "#/components/schemas/Problem"}

    def as_problem(response: dict[str, Any]) -> dict[str, Any]:
        # Only problem+json: not the route's own media type (JSON, an event stream).
        problem = response["content"].get(PROBLEM_MEDIA_TYPE, {})
        response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": problem_schema, **problem}}
        response.pop("model", None)
        return response

    for operation in operations(schema):
        responses = operation.get("responses", {})
        if responses.get("422", {}).get("description") == _STOCK_422:
            del responses["422"]
        for status, response in responses.items():
            if status[0] in "45":
                responses[status] = as_problem(response)
    for unused in ("HTTPValidationError", "ValidationError"):
        schema["components"]["schemas"].pop(unused, None)


def without_status(status: int) -> Amendment:
    """An amendment for an answer this deployment never gives (429 without
    MAX_ACTIVE_JOBS_PER_KEY, 401 and 403 without API_KEYS): no route lists it."""

    def amend(schema: Schema) -> None:
        for operation in operations(schema):
            operation.get("responses", {}).pop(str(status), None)

    return amend

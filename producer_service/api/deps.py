"""What routes get from the app: each object the lifespan opened (`wiring.Edges`), as an
`Annotated` alias of its own, and the caller."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from producer_service.api.openapi import Schema, operations
from producer_service.broker.feed import ChangeFeed
from producer_service.broker.publisher import Publisher
from producer_service.broker.queue_stats import QueueInspector
from producer_service.callers import Caller, KeyRing
from producer_service.cancels import Cancels
from producer_service.db.store import JobStore
from producer_service.errors import TokenNotAllowed
from producer_service.jobs import Jobs
from producer_service.metrics import ApiMetrics
from producer_service.presets import Presets
from producer_service.staging import UploadArea
from producer_service.wiring import Edges
from shared.settings import Settings
from shared.storage import Storage


def _edges(request: Request) -> Edges:
    edges: Edges = request.app.state.edges
    return edges


def _settings(request: Request) -> Settings:
    return _edges(request).settings


def _storage(request: Request) -> Storage:
    return _edges(request).storage


def _jobs(request: Request) -> Jobs:
    return _edges(request).jobs


def _cancels(request: Request) -> Cancels:
    return _edges(request).cancels


def _store(request: Request) -> JobStore:
    return _edges(request).store


def _uploads(request: Request) -> UploadArea:
    return _edges(request).uploads


def _publisher(request: Request) -> Publisher:
    return _edges(request).publisher


def _keys(request: Request) -> KeyRing:
    return _edges(request).keys


def _feed(request: Request) -> ChangeFeed:
    return _edges(request).feed


def _presets(request: Request) -> Presets:
    return _edges(request).presets


def _queues(request: Request) -> QueueInspector:
    return _edges(request).queues


def _metrics(request: Request) -> ApiMetrics:
    return _edges(request).metrics


SettingsDep = Annotated[Settings, Depends(_settings)]
JobsDep = Annotated[Jobs, Depends(_jobs)]
CancelsDep = Annotated[Cancels, Depends(_cancels)]
StorageDep = Annotated[Storage, Depends(_storage)]
StoreDep = Annotated[JobStore, Depends(_store)]
UploadsDep = Annotated[UploadArea, Depends(_uploads)]
PublisherDep = Annotated[Publisher, Depends(_publisher)]
KeysDep = Annotated[KeyRing, Depends(_keys)]
FeedDep = Annotated[ChangeFeed, Depends(_feed)]
PresetsDep = Annotated[Presets, Depends(_presets)]
QueuesDep = Annotated[QueueInspector, Depends(_queues)]
MetricsDep = Annotated[ApiMetrics, Depends(_metrics)]


# Only documents the scheme in OpenAPI (the Authorize button of /docs); `KeyRing` decides.
_bearer = HTTPBearer(
    auto_error=False,
    description="An API key, when the service runs with API_KEYS; otherwise not needed. A "
    "browser token from `POST /v1/tokens` works in its place for submitting jobs and reading "
    "the jobs submitted with it (and listing presets); other routes answer it 403.",
)


def without_key_requirement(schema: Schema) -> None:
    """Without API_KEYS no route needs a key: say so, instead of the bearer requirement the
    caller dependency declares on every /v1 route."""
    for operation in operations(schema):
        operation.pop("security", None)


def get_key_or_token_caller(
    request: Request,
    keys: KeysDep,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    return keys.identify(request.headers.get("authorization"))


KeyOrTokenCallerDep = Annotated[Caller, Depends(get_key_or_token_caller)]


def get_caller(caller: KeyOrTokenCallerDep) -> Caller:
    """The caller, with the API key itself: a browser token is refused (403)."""
    if caller.token is not None:
        raise TokenNotAllowed(
            "A browser token can only submit jobs and read the jobs submitted with it; "
            "this needs the API key."
        )
    return caller


# Every /v1 route takes `CallerDep`, except those a browser token may use as well: submitting,
# reading and listing its jobs (status, events, outputs) and listing presets.
CallerDep = Annotated[Caller, Depends(get_caller)]

"""What routes get from the app: the objects the lifespan built, as `Annotated` aliases."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from producer_service.api.openapi import Schema, operations
from producer_service.broker.feed import ChangeFeed
from producer_service.broker.publisher import Publisher
from producer_service.broker.queue_stats import QueueInspector
from producer_service.callers import Caller, KeyRing
from producer_service.db.store import JobStore
from producer_service.errors import TokenNotAllowed
from producer_service.jobs import JobService
from producer_service.metrics import ApiMetrics
from producer_service.presets import Presets
from producer_service.storage import UploadArea
from shared.settings import Settings
from shared.storage import Storage


@dataclass(frozen=True)
class Services:
    settings: Settings
    jobs: JobService
    store: JobStore
    storage: Storage
    uploads: UploadArea
    publisher: Publisher
    keys: KeyRing
    feed: ChangeFeed
    presets: Presets
    queues: QueueInspector
    metrics: ApiMetrics


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


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
    services: ServicesDep,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    return services.keys.identify(request.headers.get("authorization"))


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

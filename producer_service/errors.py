"""What can go wrong behind the API, as exceptions that know their HTTP answer.

    ServiceError
    ├── Unauthorized             401  with WWW-Authenticate: no API key, or not one of API_KEYS
    ├── PayloadTooLarge          413  upload bytes or source pixels over the limit
    ├── UnsupportedMediaType     415  not multipart, or not an image libvips may read
    ├── InvalidRequest           422  bad `variants` or a missing `file` part
    ├── JobNotFound              404
    ├── OutputNotFound           404
    ├── OutputNotReady           409
    ├── JobNotFailed             409  a manual retry of a job that has not failed
    ├── IdempotencyKeyReused     422  the key came with a different file or variants
    ├── IdempotencyKeyInFlight   409  with Retry-After: the first request with the key is
    │                                 still waiting for the broker's confirm
    ├── TooManyActiveJobs        429  with Retry-After: the key holds MAX_ACTIVE_JOBS_PER_KEY
    └── ServiceUnavailable       503  with Retry-After
        ├── BrokerUnavailable         not connected, or no confirm in time
        ├── QueueFull                 the broker refused the task (MAX_QUEUED_JOBS)
        ├── StoreUnavailable          the job store failed or did not answer in time
        └── StorageUnavailable        DATA_DIR could not be written (full, read-only, ...)

`problems.py` turns each into an `application/problem+json` answer; nothing else does.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar


class ServiceError(Exception):
    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal server error"
    # Sent as Retry-After: the error passes, so the same request can be tried again then.
    retry_after_seconds: ClassVar[int | None] = None
    # Sent as WWW-Authenticate: how to authenticate (RFC 9110 requires it with a 401).
    challenge: ClassVar[str | None] = None

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class Unauthorized(ServiceError):
    status = 401
    slug = "unauthorized"
    title = "Unauthorized"
    challenge = 'Bearer realm="image-resize"'


class PayloadTooLarge(ServiceError):
    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaType(ServiceError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class InvalidRequest(ServiceError):
    status = 422
    slug = "validation-error"
    title = "Invalid request"

    @classmethod
    def from_errors(
        cls, errors: Iterable[Mapping[str, Any]], prefix: Sequence[str | int] = ()
    ) -> "InvalidRequest":
        """From pydantic's error list: each error's location, message and type, and a summary."""
        items = [
            {"loc": [*prefix, *error["loc"]], "msg": error["msg"], "type": error["type"]}
            for error in errors
        ]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in items)
        return cls(detail, errors=items)


class JobNotFound(ServiceError):
    status = 404
    slug = "job-not-found"
    title = "Job not found"


class OutputNotFound(ServiceError):
    status = 404
    slug = "output-not-found"
    title = "Output not found"


class OutputNotReady(ServiceError):
    status = 409
    slug = "output-not-ready"
    title = "Output not ready"


class JobNotFailed(ServiceError):
    status = 409
    slug = "job-not-failed"
    title = "Job has not failed"


class IdempotencyKeyReused(ServiceError):
    status = 422
    slug = "idempotency-key-reused"
    title = "Idempotency key reused"


class IdempotencyKeyInFlight(ServiceError):
    status = 409
    slug = "idempotency-key-in-flight"
    title = "Idempotency key in flight"
    retry_after_seconds = 2


class TooManyActiveJobs(ServiceError):
    status = 429
    slug = "too-many-active-jobs"
    title = "Too many active jobs"
    retry_after_seconds = 5


class ServiceUnavailable(ServiceError):
    status = 503
    slug = "service-unavailable"
    title = "Service unavailable"
    retry_after_seconds = 5


class BrokerUnavailable(ServiceUnavailable):
    slug = "broker-unavailable"
    title = "Broker unavailable"


class QueueFull(ServiceUnavailable):
    slug = "queue-full"
    title = "Queue full"
    retry_after_seconds = 10


class StoreUnavailable(ServiceUnavailable):
    slug = "store-unavailable"
    title = "Job store unavailable"


class StorageUnavailable(ServiceUnavailable):
    slug = "storage-unavailable"
    title = "Storage unavailable"
    retry_after_seconds = 30

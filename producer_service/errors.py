"""What can go wrong behind the API, as exceptions that know their HTTP answer.

    ApiProblem
    ├── Unauthorized             401  with WWW-Authenticate: no API key, or not one of API_KEYS,
    │                                 or a browser token expired or not valid
    ├── TokenNotAllowed          403  a browser token on a route that needs the API key itself
    ├── TokensNeedKeys           409  POST /v1/tokens on a service without API_KEYS
    ├── PayloadTooLarge          413  upload bytes (the whole form), parts or source pixels over
    │                                 the limit
    ├── UnsupportedMediaType     415  not multipart, or not an image libvips may read
    ├── InvalidRequest           422  bad `variants`, a missing `file` part, a field sent twice, an
    │                                 unknown form field or query parameter
    ├── JobNotFound              404
    ├── OutputNotFound           404
    ├── OutputNotReady           409
    ├── JobNotFailed             409  a manual retry of a job that has not failed (or been
    │                                 cancelled)
    ├── JobNotFinished           409  a delete of a job still queued or processing
    ├── JobAlreadyFinished       409  a cancel of a job that has already ended
    ├── IdempotencyKeyReused     422  the key came with a different file or variants
    ├── InvalidCallbackUrl       422  `callback_url` is not a usable https URL, or names no host
    ├── CallbackTargetRefused    422  `callback_url`'s host resolves to a non-global address
    ├── InvalidSourceUrl         422  `source_url` is not a usable https URL, or names no host
    ├── SourceUrlRefused         422  `source_url`'s host resolves to a non-global address
    ├── WebhooksNotConfigured    422  `callback_url` sent to a service without WEBHOOK_SECRET
    │   └── NoWebhookSecret      409  the same, asking for a webhook secret
    ├── WebhookSecretsNeedKeys   409  GET /v1/webhook-secret on a service without API_KEYS
    ├── IdempotencyKeyInFlight   409  with Retry-After: the first request with the key is
    │                                 still waiting for the broker's confirm
    ├── TooManyActiveJobs        429  with Retry-After: the key holds MAX_ACTIVE_JOBS_PER_KEY
    └── Unavailable              503  with Retry-After
        ├── BrokerUnavailable         not connected, or no confirm in time
        ├── QueueFull                 the broker refused the task (MAX_QUEUED_JOBS)
        ├── StoreUnavailable          the job store failed or did not answer in time
        └── StorageUnavailable        DATA_DIR could not be written (full, read-only, ...)

`problems.py` turns each into an `application/problem+json` answer; nothing else does.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar


class ApiProblem(Exception):
    """The service failed in a way it did not expect. It has been logged with the request;
    trying again may work. If it keeps happening, tell the operators the time and the
    request."""

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


class Unauthorized(ApiProblem):
    """The service runs with API keys and this request had none, or not one it knows, or a
    browser token that has expired or is not valid (altered, or minted by a key the service
    no longer has). Send `Authorization: Bearer <key>`, with the key exactly as you were given
    it; for a browser, ask the backend that gave you the token for a fresh one."""

    status = 401
    slug = "unauthorized"
    title = "Unauthorized"
    challenge = 'Bearer realm="image-resize"'


# Browser tokens (POST /v1/tokens).


class TokenNotAllowed(ApiProblem):
    """A browser token (`POST /v1/tokens`) can submit jobs, read the jobs submitted with it
    (their status, events and outputs) and list the presets, nothing else. Deleting or
    retrying a job, minting tokens and the service's stats need the API key itself, which
    stays with the backend."""

    status = 403
    slug = "token-not-allowed"
    title = "Not allowed with a browser token"


class TokensNeedKeys(ApiProblem):
    """Browser tokens are signed with the service's API keys, and this service runs without
    `API_KEYS`: every request is allowed as it is, and there is nothing to sign a token with.
    Set `API_KEYS` to hand browsers short-lived tokens instead of a key."""

    status = 409
    slug = "tokens-need-keys"
    title = "Browser tokens need API keys"


class PayloadTooLarge(ApiProblem):
    """The upload is over the service's limits: its bytes (`MAX_UPLOAD_BYTES`, which bounds
    the whole form body, with 256 KiB on top for the form's framing and text fields), its
    parts (16), its pixels (`MAX_INPUT_PIXELS`) or its pages or frames (`MAX_INPUT_PAGES`),
    as read from its header before anything was decoded. Send a smaller image; `detail`
    names the limit."""

    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaType(ApiProblem):
    """The body is not a multipart form, or its `file` is not an image this service reads
    (JPEG, PNG, WebP, GIF, TIFF, HEIC, AVIF). The type is read from the file's bytes, not
    its name or `Content-Type`, so renaming a file does not help."""

    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class InvalidRequest(ApiProblem):
    """The request does not say what the service needs: a bad `variants` JSON, an unknown
    `preset`, both at once, a missing `file` part (or one sent as text: with curl, `-F
    file=@photo.jpg`, with the `@`), a field sent twice, a form field the route does not take,
    or a bad or unknown query parameter (each route takes only those it documents). `errors`
    lists each field at fault (`loc`), with a message (`msg`)."""

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


class JobNotFound(ApiProblem):
    """No job has this id, or it is another API key's job (each key sees only its own). Ids
    are UUIDs as the submit returned them."""

    status = 404
    slug = "job-not-found"
    title = "Job not found"


class OutputNotFound(ApiProblem):
    """The job has no output of this name: an output is named after the `name` of one of
    the job's variants."""

    status = 404
    slug = "output-not-found"
    title = "Output not found"


class OutputNotReady(ApiProblem):
    """The job has not succeeded (yet): outputs exist once its status is `succeeded`.
    Follow `GET /v1/jobs/{id}/events` or poll the job, then download."""

    status = 409
    slug = "output-not-ready"
    title = "Output not ready"


class JobNotFailed(ApiProblem):
    """Only a `failed` or `cancelled` job can be retried; this one is queued, processing or
    has succeeded."""

    status = 409
    slug = "job-not-failed"
    title = "Job has not failed"


class JobNotFinished(ApiProblem):
    """Only a finished job (`succeeded`, `failed` or `cancelled`) can be deleted; this one is
    still queued or processing. Cancel it first (`POST /v1/jobs/{id}/cancel`), or wait for it
    to finish (follow its events), then delete it."""

    status = 409
    slug = "job-not-finished"
    title = "Job not finished"


class JobAlreadyFinished(ApiProblem):
    """Only a `queued` or `processing` job can be cancelled; this one has already ended
    (`succeeded`, `failed` or `cancelled`). Delete it if you no longer want it."""

    status = 409
    slug = "job-already-finished"
    title = "Job already finished"


class IdempotencyKeyReused(ApiProblem):
    """This `Idempotency-Key` was first sent with a different file, `variants`, `preset` or
    `callback_url`.
    A key stands for one request; use a new key for a new request."""

    status = 422
    slug = "idempotency-key-reused"
    title = "Idempotency key reused"


class InvalidCallbackUrl(ApiProblem):
    """`callback_url` is not a URL the service can POST a webhook to: it must be an absolute
    `https://` URL (`http://` only where the operator allows private targets) of at most 2048
    characters, with a host name that resolves, and no user name or password in it."""

    status = 422
    slug = "invalid-callback-url"
    title = "Invalid callback URL"


class CallbackTargetRefused(ApiProblem):
    """`callback_url`'s host resolves to an address that is not globally reachable, as the
    IANA special-purpose address registries say: loopback, private, link-local (cloud metadata
    included), shared, site-local, unique-local, multicast, documentation, benchmarking or
    reserved, in IPv4 or IPv6, or an IPv6 form carrying such an IPv4 address (mapped, NAT64,
    6to4). `detail` names the block. Webhooks go to public addresses only, unless the
    operator set `WEBHOOK_ALLOW_PRIVATE`. The host is checked again before every delivery."""

    status = 422
    slug = "callback-target-refused"
    title = "Callback target refused"


class InvalidSourceUrl(ApiProblem):
    """`source_url` is not a URL the service can fetch an image from: it must be an absolute
    `https://` URL (`http://` only where the operator set `SOURCE_URL_ALLOW_PRIVATE`) of at
    most 2048 characters, with a host name that resolves, and no user name or password in it."""

    status = 422
    slug = "invalid-source-url"
    title = "Invalid source URL"


class SourceUrlRefused(ApiProblem):
    """`source_url`'s host resolves to an address that is not globally reachable (the same
    guard as webhook targets: loopback, private, link-local and cloud metadata, and every
    other special-purpose block of the IANA registries). `detail` names the block. Images
    are fetched from public addresses only, unless the operator set
    `SOURCE_URL_ALLOW_PRIVATE`; every redirect and connection is checked again at the fetch."""

    status = 422
    slug = "source-url-refused"
    title = "Source URL refused"


class WebhooksNotConfigured(ApiProblem):
    """This service sends no webhooks: its operator has not set `WEBHOOK_SECRET`, which
    signs them. Submit without `callback_url` and follow the job's events or poll it. (Asking
    for a webhook secret, `GET /v1/webhook-secret`, is answered the same way, as a 409.)"""

    status = 422
    slug = "webhooks-not-configured"
    title = "Webhooks not configured"


class NoWebhookSecret(WebhooksNotConfigured):
    """`GET /v1/webhook-secret` on a service without `WEBHOOK_SECRET`: there are no webhooks
    and nothing to sign them with."""

    status = 409


class WebhookSecretsNeedKeys(ApiProblem):
    """This service runs without `API_KEYS`, so every webhook is signed with `WEBHOOK_SECRET`
    itself. Its operator holds that secret and gives it to receivers; the API never hands it
    out. With `API_KEYS` set, each key reads its own secret here instead."""

    status = 409
    slug = "webhook-secrets-need-keys"
    title = "Webhook secrets per key need API keys"


class IdempotencyKeyInFlight(ApiProblem):
    """The first request with this `Idempotency-Key` is still waiting for the broker to
    confirm its task. Send the same request again after `Retry-After` seconds: it gets the
    first request's job."""

    status = 409
    slug = "idempotency-key-in-flight"
    title = "Idempotency key in flight"
    retry_after_seconds = 2


class TooManyActiveJobs(ApiProblem):
    """This API key (or, without keys, the service) already holds `MAX_ACTIVE_JOBS_PER_KEY`
    jobs that are queued or processing. Submit more as they finish; `Retry-After` says when
    to try."""

    status = 429
    slug = "too-many-active-jobs"
    title = "Too many active jobs"
    retry_after_seconds = 5


class Unavailable(ApiProblem):
    """The service cannot take this request right now. Try again after `Retry-After`
    seconds."""

    status = 503
    slug = "service-unavailable"
    title = "Service unavailable"
    retry_after_seconds = 5


class BrokerUnavailable(Unavailable):
    """The message broker is not reachable, or did not confirm the task in time, so the job
    was not accepted (nothing was kept). Try again after `Retry-After` seconds."""

    slug = "broker-unavailable"
    title = "Broker unavailable"


class QueueFull(Unavailable):
    """Too many jobs are waiting (`MAX_QUEUED_JOBS`): the broker refused the task, and
    nothing was kept. Try again after `Retry-After` seconds."""

    slug = "queue-full"
    title = "Queue full"
    retry_after_seconds = 10


class StoreUnavailable(Unavailable):
    """The job store (the database) did not answer in time or failed. Nothing half-done was
    kept; try again after `Retry-After` seconds."""

    slug = "store-unavailable"
    title = "Job store unavailable"


class StorageUnavailable(Unavailable):
    """The service could not write files (its disk is full or read-only). Nothing half-
    written was kept; try again after `Retry-After` seconds."""

    slug = "storage-unavailable"
    title = "Storage unavailable"
    retry_after_seconds = 30

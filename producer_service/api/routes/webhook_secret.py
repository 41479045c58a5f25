"""`GET /v1/webhook-secret`: with API keys, the secret the webhooks of the caller's key are
signed with (`producer_service.callbacks.signing`), for its receiver to verify them."""

from fastapi import APIRouter, Response

from producer_service.api.deps import CallerDep, SettingsDep
from producer_service.api.examples import WEBHOOK_SECRET_EXAMPLE
from producer_service.api.openapi import Schema
from producer_service.api.problems import PROBLEM_MEDIA_TYPE, problem_responses
from producer_service.callbacks.signing import owner_secret
from producer_service.errors import (
    NoWebhookSecret,
    TokenNotAllowed,
    Unauthorized,
    WebhookSecretsNeedKeys,
)
from shared.schemas import WebhookSecret

router = APIRouter(prefix="/v1", tags=["webhooks"])

PATH = "/v1/webhook-secret"


@router.get(
    PATH.removeprefix("/v1"),
    summary="The secret your webhooks are signed with",
    description="With an API key (never a token): the secret the webhooks of this key's jobs "
    "are signed with. A receiver verifies `webhook-signature` with it as it would "
    "with WEBHOOK_SECRET (the HMAC keyed with its UTF-8 bytes); a webhook about another key's "
    "job never verifies with it, "
    "wherever that key pointed its `callback_url`. It is derived from WEBHOOK_SECRET and the "
    "key, so it stays the same until either changes; a new key gets a new secret, and jobs of "
    "a key taken out of API_KEYS are still signed with its old one. Not cached. Needs "
    "API_KEYS and WEBHOOK_SECRET: without keys every webhook is signed with WEBHOOK_SECRET "
    "itself, which the operator holds and this never hands out (409).",
    response_model=WebhookSecret,
    responses={
        200: {
            "description": "This key's webhook secret.",
            "content": {"application/json": {"example": WEBHOOK_SECRET_EXAMPLE}},
        },
        **problem_responses(
            Unauthorized,
            TokenNotAllowed,
            NoWebhookSecret,
            WebhookSecretsNeedKeys,
            details={
                "webhooks-not-configured": "This service sends no webhooks (its operator has "
                "not set WEBHOOK_SECRET), so it has no webhook secret."
            },
        ),
    },
)
async def read_webhook_secret(
    settings: SettingsDep, caller: CallerDep, response: Response
) -> WebhookSecret:
    webhook_secret = settings.webhook_secret
    if webhook_secret is None:
        raise NoWebhookSecret(
            "This service sends no webhooks (its operator has not set WEBHOOK_SECRET), so it "
            "has no webhook secret."
        )
    if not caller.owner:
        raise WebhookSecretsNeedKeys(
            "This service runs without API_KEYS: its webhooks are signed with WEBHOOK_SECRET "
            "itself, which its operator holds and gives receivers; it is never sent over the "
            "API."
        )
    response.headers["Cache-Control"] = "no-store"
    return WebhookSecret(secret=owner_secret(webhook_secret.get_secret_value(), caller.owner))


def without_keyless_refusal(schema: Schema) -> None:
    """With API_KEYS the route's 409 is only ever `NoWebhookSecret`: the document says so."""
    conflict = schema["paths"][PATH]["get"]["responses"][str(WebhookSecretsNeedKeys.status)]
    conflict["content"][PROBLEM_MEDIA_TYPE]["examples"].pop(WebhookSecretsNeedKeys.slug)

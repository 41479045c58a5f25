"""`POST /v1/tokens`: a backend, with its API key, mints a short-lived token for a browser,
which then uploads directly and follows its own jobs without ever holding the key."""

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError

from producer_service.api.deps import CallerDep, KeysDep, PresetsDep
from producer_service.api.examples import TOKEN_EXAMPLE
from producer_service.api.openapi import Schema
from producer_service.api.problems import problem_responses
from producer_service.errors import (
    InvalidRequest,
    PayloadTooLarge,
    TokenNotAllowed,
    TokensNeedKeys,
    Unauthorized,
)
from producer_service.submissions import known_preset
from shared.schemas import BrowserToken, TokenRequest

router = APIRouter(prefix="/v1", tags=["tokens"])

PATH = "/v1/tokens"
# A token request is a small JSON object; a body beyond this is not read on.
MAX_BODY_BYTES = 4096
_TOO_LARGE = f"A token request is at most {MAX_BODY_BYTES} bytes of JSON."

# The body is read by the route (not by FastAPI), so this documents it.
_BODY: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": TokenRequest.model_json_schema(),
                "examples": {
                    "avatar": {
                        "summary": "15 minutes, avatars only",
                        "value": {"expires_in": 900, "preset": "avatar"},
                    },
                    "defaults": {"summary": "15 minutes, any sizes (the defaults)", "value": {}},
                },
            }
        },
    }
}


@router.post(
    "/tokens",
    status_code=201,
    summary="Mint a short-lived token for a browser",
    description="With an API key (never a token), a token a browser sends as "
    "`Authorization: Bearer <token>` instead of the key: it submits jobs (only the token's "
    "`preset`, when one is given) and reads the jobs submitted with it (status, events, "
    "outputs), and lists the presets; everything else answers it 403. The jobs are the key's: "
    "the key sees them too, another token of the same key does not. A token works until "
    "`expires_at` (at most an hour) or until its key leaves API_KEYS, then it is 401. Both "
    "fields are optional; send no body for 15 minutes without a preset limit. Needs API_KEYS: "
    "without keys every request is allowed already, and this answers 409.",
    response_model=BrowserToken,
    responses={
        201: {
            "description": "The token and when it expires.",
            "content": {"application/json": {"example": TOKEN_EXAMPLE}},
        },
        **problem_responses(
            Unauthorized,
            TokenNotAllowed,
            TokensNeedKeys,
            PayloadTooLarge,
            InvalidRequest,
            details={
                "payload-too-large": _TOO_LARGE,
                "unauthorized": "The API key is not valid.",
                "validation-error": "expires_in: Input should be less than or equal to 3600",
            },
        ),
    },
    openapi_extra=_BODY,
)
async def mint_token(
    request: Request, keys: KeysDep, presets: PresetsDep, caller: CallerDep
) -> BrowserToken:
    asked = await _token_request(request)
    if asked.preset is not None:
        known_preset(asked.preset, presets)
    token, claims = keys.mint(caller, asked.expires_in, asked.preset)
    return BrowserToken(token=token, expires_at=claims.expires_at)


async def _token_request(request: Request) -> TokenRequest:
    """The body as a `TokenRequest`: JSON whatever the `Content-Type` says (curl's `-d` sends
    a form's), and no body at all for the defaults."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge(_TOO_LARGE)
    if not body.strip():
        return TokenRequest()
    try:
        return TokenRequest.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidRequest.from_errors(exc.errors(), prefix=["body"]) from None


def without_token_refusal(schema: Schema) -> None:
    """With API_KEYS the route never answers 409 (TokensNeedKeys): the document says so."""
    schema["paths"][PATH]["post"]["responses"].pop(str(TokensNeedKeys.status), None)

"""Browser tokens: short-lived, signed stand-ins for an API key, which a backend mints
(`POST /v1/tokens`) and hands a browser, so the browser uploads directly without ever holding
the key.

    rt_<claims>.<signature>

`claims` is base64url JSON: the owner id of the minting key, a random token id, the one preset
the token may submit (or null) and its expiry in Unix seconds. `signature` is base64url
HMAC-SHA256 over `rt_<claims>`, keyed by a secret derived from the minting key itself. So any
API replica verifies a token without a store round-trip, API_KEYS is the only setting, and a
key taken out of API_KEYS takes every token it minted with it.

Nothing here is secret from the browser (the claims are only encoded); what it cannot do is
change them, or make a token for another key, without the key.
"""

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, ValidationError

from producer_service.errors import Unauthorized

TOKEN_PREFIX = "rt_"
# Far longer than any token minted here; anything longer is refused before it is decoded.
MAX_TOKEN_CHARS = 512
# What a key's secret is derived for: a key's tokens are never signed with the key itself.
_PURPOSE = b"image-resize browser token v1"


class TokenClaims(BaseModel):
    """What a token says, once its signature has been checked."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    # The owner id of the API key that minted it: the token's jobs are that key's.
    owner: str
    # Random; the jobs submitted with the token record it, and only they are the token's.
    id: str
    # The one preset the token's submits may use; None: any preset or variants.
    preset: str | None
    # Unix seconds: the token works before this moment, not from it on.
    exp: int

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.exp, UTC)


def signing_secret(key: str) -> bytes:
    """The secret a key's tokens are signed with, derived from the key."""
    return hmac.new(key.encode(), _PURPOSE, hashlib.sha256).digest()


class TokenSigner:
    """Mints and verifies tokens for the keys whose secrets it holds, by their owner ids.
    `clock` gives the time in Unix seconds (tests set it to mint a token that has expired)."""

    def __init__(
        self, secrets_by_owner: Mapping[str, bytes], clock: Callable[[], float] = time.time
    ) -> None:
        self._secrets = dict(secrets_by_owner)
        self._clock = clock
        # Checks the signature of a token naming an owner with no key here, so it is refused
        # after the same work as any other forgery.
        self._no_key = os.urandom(32)

    def mint(
        self, owner: str, lifetime_seconds: int, preset: str | None
    ) -> tuple[str, TokenClaims]:
        """A token for `owner`'s key that works for `lifetime_seconds`, and what it says."""
        claims = TokenClaims(
            owner=owner,
            id=secrets.token_urlsafe(12),
            preset=preset,
            exp=int(self._clock()) + lifetime_seconds,
        )
        signed = TOKEN_PREFIX + _encode(claims.model_dump_json().encode())
        return f"{signed}.{_signature(self._secrets[owner], signed)}", claims

    def verify(self, token: str) -> TokenClaims:
        """What the token says, if one of these keys signed it and it has not expired; else
        `Unauthorized`, saying which of the two."""
        claims = self._signed_claims(token)
        if self._clock() >= claims.exp:
            raise Unauthorized("The token has expired.")
        return claims

    def _signed_claims(self, token: str) -> TokenClaims:
        signed, dot, signature = token.rpartition(".")
        if not dot or len(token) > MAX_TOKEN_CHARS or not signed.startswith(TOKEN_PREFIX):
            raise _not_valid()
        try:
            claims = TokenClaims.model_validate_json(_decode(signed.removeprefix(TOKEN_PREFIX)))
        except (ValueError, ValidationError):
            raise _not_valid() from None
        expected = _signature(self._secrets.get(claims.owner, self._no_key), signed)
        # The encoded forms are compared, so no other spelling of the same bytes passes.
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise _not_valid()
        return claims


def _not_valid() -> Unauthorized:
    return Unauthorized("The token is not valid.")


def _signature(secret: bytes, signed: str) -> str:
    return _encode(hmac.new(secret, signed.encode(), hashlib.sha256).digest())


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

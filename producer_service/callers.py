"""Who is calling: with API_KEYS set, the key a request carries, which every job it makes
belongs to, or a browser token that key minted; without, anyone (the service is then for
trusted networks only).

A key is compared in constant time against every configured key, and from then on known only
by its owner id, a short SHA-256 hash: that is what the store keeps and logs may show. A
presented secret that is no key is tried as a browser token (`tokens.py`), so a key that
happens to look like one is still a key.
"""

import hashlib
import hmac
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from producer_service.errors import TokensNeedKeys, Unauthorized
from producer_service.tokens import TOKEN_PREFIX, TokenClaims, TokenSigner, signing_secret
from shared.topology import BULK_LANES

OWNER_HEX_DIGITS = 16


@dataclass(frozen=True)
class Scope:
    """The jobs a caller may see: its key's, or, for a browser token, those submitted with
    that token only."""

    owner: str
    token_id: str | None = None


@dataclass(frozen=True)
class Caller:
    # The owner id of the caller's key (for a browser token, of the key that minted it);
    # "" without keys.
    owner: str
    # Without keys every job is everyone's; with keys, only the caller's own.
    sees_every_job: bool = False
    # Set when the caller holds a browser token rather than the key itself.
    token: TokenClaims | None = None

    @property
    def scope(self) -> Scope | None:
        """Whose jobs this caller may see; None for all of them."""
        if self.sees_every_job:
            return None
        return Scope(self.owner, None if self.token is None else self.token.id)

    @property
    def token_id(self) -> str:
        """What a job this caller submits records: its token's id; "" for a key."""
        return "" if self.token is None else self.token.id

    @property
    def only_preset(self) -> str | None:
        """The one preset this caller may submit (a preset-limited token's); None: any."""
        return None if self.token is None else self.token.preset


ANYONE = Caller(owner="", sees_every_job=True)


def owner_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:OWNER_HEX_DIGITS]


class KeyRing:
    """The configured API keys; `identify` turns an Authorization header into a `Caller`,
    `mint` makes a key's caller a browser token. `clock` is the tokens' (see `TokenSigner`)."""

    def __init__(self, keys: Sequence[str], clock: Callable[[], float] = time.time) -> None:
        self._keys = [(key.encode(), owner_id(key)) for key in keys]
        # Each key's bulk lane is its place in API_KEYS: up to BULK_LANES keys share none.
        self._lanes: dict[str, int] = {}
        for position, key in enumerate(keys):
            self._lanes.setdefault(owner_id(key), position % BULK_LANES)
        self._tokens = TokenSigner({owner_id(key): signing_secret(key) for key in keys}, clock)

    def lane_of(self, owner: str) -> int:
        """The bulk lane of `owner`'s jobs; 0 without keys, or for a key since removed."""
        return self._lanes.get(owner, 0)

    def identify(self, authorization: str | None) -> Caller:
        if not self._keys:
            return ANYONE
        scheme, _, credential = (authorization or "").strip().partition(" ")
        presented = credential.strip()
        if scheme.lower() != "bearer" or not presented:
            raise Unauthorized(
                "Send an API key (or a browser token) as `Authorization: Bearer <key>`."
            )
        secret = presented.encode()
        owner = None
        for key, key_owner in self._keys:  # every key, so the time says nothing of which
            if hmac.compare_digest(key, secret):
                owner = key_owner
        if owner is not None:
            return Caller(owner)
        if presented.startswith(TOKEN_PREFIX):
            claims = self._tokens.verify(presented)
            return Caller(claims.owner, token=claims)
        raise Unauthorized("The API key is not valid.")

    def mint(
        self, caller: Caller, lifetime_seconds: int, preset: str | None
    ) -> tuple[str, TokenClaims]:
        """A browser token for the caller's key (a key's caller: routes refuse tokens first)."""
        if not self._keys:
            raise TokensNeedKeys(
                "This service runs without API_KEYS, so it mints no browser tokens: every "
                "request is allowed without one."
            )
        return self._tokens.mint(caller.owner, lifetime_seconds, preset)

"""Who is calling: with API_KEYS set, the key a request carries, which every job it makes
belongs to; without, anyone (the service is then for trusted networks only).

A key is compared in constant time against every configured key, and from then on known only
by its owner id, a short SHA-256 hash: that is what the store keeps and logs may show.
"""

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from producer_service.errors import Unauthorized

OWNER_HEX_DIGITS = 16


@dataclass(frozen=True)
class Caller:
    # The owner id of the caller's key; "" without keys.
    owner: str
    # Without keys every job is everyone's; with keys, only the caller's own.
    sees_every_job: bool = False

    @property
    def scope(self) -> str | None:
        """The owner whose jobs this caller may see; None for all of them."""
        return None if self.sees_every_job else self.owner


ANYONE = Caller(owner="", sees_every_job=True)


def owner_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:OWNER_HEX_DIGITS]


class KeyRing:
    """The configured API keys; `identify` turns an Authorization header into a `Caller`."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._keys = [(key.encode(), owner_id(key)) for key in keys]

    def identify(self, authorization: str | None) -> Caller:
        if not self._keys:
            return ANYONE
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Send an API key as `Authorization: Bearer <key>`.")
        presented = token.strip().encode()
        owner = None
        for key, key_owner in self._keys:  # every key, so the time says nothing of which
            if hmac.compare_digest(key, presented):
                owner = key_owner
        if owner is None:
            raise Unauthorized("The API key is not valid.")
        return Caller(owner)

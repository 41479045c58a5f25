"""Browser tokens as the key ring makes and reads them: what a token grants, for how long, and
that no change to one, and no token of a key the ring does not hold, gets past it."""

import base64
import json
import string

import pytest

from producer_service.callers import Caller, KeyRing, Scope, owner_id
from producer_service.errors import TokensNeedKeys, Unauthorized
from producer_service.tokens import TOKEN_PREFIX

KEY, OTHER_KEY = "backend-key-0123456789", "other-backend-key-9876"
MINTED_AT = 1_795_554_300.0


class Clock:
    def __init__(self, now: float = MINTED_AT) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def mint(ring: KeyRing, key: str = KEY, seconds: int = 900, preset: str | None = None) -> str:
    token, _ = ring.mint(Caller(owner_id(key)), seconds, preset)
    return token


def bearer(token: str) -> str:
    return f"Bearer {token}"


def refusal(ring: KeyRing, token: str) -> str:
    with pytest.raises(Unauthorized) as refused:
        ring.identify(bearer(token))
    return refused.value.detail


def test_a_token_stands_for_its_key_limited_to_its_own_jobs_and_preset() -> None:
    ring = KeyRing([KEY, OTHER_KEY], Clock())
    token, claims = ring.mint(Caller(owner_id(KEY)), 900, "avatar")
    caller = ring.identify(bearer(token))
    assert token.startswith(TOKEN_PREFIX)
    assert caller.owner == owner_id(KEY)
    assert caller.scope == Scope(owner_id(KEY), claims.id)
    assert caller.only_preset == "avatar"
    assert caller.token_id == claims.id != ""
    assert claims.expires_at.timestamp() == MINTED_AT + 900
    # Two tokens of one key are two scopes.
    assert ring.identify(bearer(mint(ring))).scope != caller.scope
    assert ring.identify(bearer(mint(ring))).only_preset is None


def test_a_token_works_until_its_expiry_and_not_from_then_on() -> None:
    clock = Clock()
    ring = KeyRing([KEY], clock)
    token = mint(ring, seconds=60)
    clock.now = MINTED_AT + 59.9
    assert ring.identify(bearer(token)).owner == owner_id(KEY)
    clock.now = MINTED_AT + 60
    assert refusal(ring, token) == "The token has expired."


def test_any_changed_character_makes_a_token_not_valid() -> None:
    ring = KeyRing([KEY], Clock())
    token = mint(ring, preset="avatar")
    for at, char in enumerate(token):
        for other in ("A" if char != "A" else "B", "!"):
            changed = token[:at] + other + token[at + 1 :]
            assert refusal(ring, changed) in {
                "The token is not valid.",
                "The API key is not valid.",  # the prefix changed: not a token at all
            }, changed
    for cut in (token[:-1], token + "A", token.replace(".", ""), token.split(".")[0]):
        assert refusal(ring, cut) == "The token is not valid."


def test_claims_rewritten_without_the_key_are_refused() -> None:
    ring = KeyRing([KEY], Clock())
    signed, signature = mint(ring, preset="avatar").split(".")
    claims = json.loads(base64.urlsafe_b64decode(signed.removeprefix(TOKEN_PREFIX) + "=="))
    for change in ({"preset": None}, {"exp": claims["exp"] + 3600}, {"id": "another-id"}):
        payload = json.dumps({**claims, **change}, separators=(",", ":")).encode()
        forged = TOKEN_PREFIX + base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
        assert refusal(ring, f"{forged}.{signature}") == "The token is not valid."


def test_a_token_of_a_key_the_ring_does_not_hold_is_refused() -> None:
    """A key rotated out of API_KEYS takes its tokens with it, and one key's token is never
    taken for another's."""
    before = KeyRing([KEY, OTHER_KEY], Clock())
    after = KeyRing([OTHER_KEY], Clock())
    assert refusal(after, mint(before, KEY)) == "The token is not valid."
    assert after.identify(bearer(mint(before, OTHER_KEY))).owner == owner_id(OTHER_KEY)
    # A token claiming another key's owner id, signed with its own key's secret.
    signed, signature = mint(before, KEY).split(".")
    claims = json.loads(base64.urlsafe_b64decode(signed.removeprefix(TOKEN_PREFIX) + "=="))
    payload = json.dumps({**claims, "owner": owner_id(OTHER_KEY)}).encode()
    forged = TOKEN_PREFIX + base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    assert refusal(before, f"{forged}.{signature}") == "The token is not valid."


@pytest.mark.parametrize(
    "token",
    ["rt_", "rt_.", "rt_x.y", "rt_" + "A" * 600 + ".sig", "rt_bm90IGpzb24.c2ln", "rt_é.ü"],
)
def test_garbage_with_the_token_prefix_is_a_token_that_is_not_valid(token: str) -> None:
    assert refusal(KeyRing([KEY], Clock()), token) == "The token is not valid."


def test_a_key_that_looks_like_a_token_is_still_a_key() -> None:
    key = "rt_" + string.ascii_letters + ".not-a-token"
    caller = KeyRing([key], Clock()).identify(bearer(key))
    assert (caller.owner, caller.token) == (owner_id(key), None)


def test_a_ring_without_keys_lets_anyone_in_and_mints_no_token() -> None:
    open_ring = KeyRing([], Clock())
    token = mint(KeyRing([KEY], Clock()))
    assert open_ring.identify(bearer(token)).sees_every_job
    with pytest.raises(TokensNeedKeys):
        open_ring.mint(Caller(""), 900, None)

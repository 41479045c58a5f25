"""`GET /v1/webhook-secret`: each API key reads its own webhook secret, and nothing else does.
(That webhooks verify with it, and only with it, is tests/integration/test_webhooks.py.)"""

from pydantic import SecretStr

from producer_service.callbacks.signing import owner_secret
from producer_service.callers import owner_id
from tests.client import assert_problem
from tests.receiver import SECRET
from tests.support import ALICE, BOB
from tests.support.served import Serve

PATH = "/v1/webhook-secret"


def as_key(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_each_key_reads_its_own_secret_which_is_never_webhook_secret(serve: Serve) -> None:
    async with serve(api_keys=SecretStr(f"{ALICE},{BOB}"), webhook_secret=SECRET) as served:
        http = served.api.http
        alice, again, bob = [
            await http.get(PATH, headers=as_key(key)) for key in (ALICE, ALICE, BOB)
        ]
    for response in (alice, again, bob):
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
    secrets = [response.json()["secret"] for response in (alice, again, bob)]
    assert secrets[0] == secrets[1] != secrets[2]
    assert SECRET not in secrets
    # Derived from WEBHOOK_SECRET and the owner id, which is all a job stores of its key.
    assert secrets[0] == owner_secret(SECRET, owner_id(ALICE))


async def test_a_token_no_key_or_a_wrong_key_gets_no_secret(serve: Serve) -> None:
    async with serve(api_keys=SecretStr(ALICE), webhook_secret=SECRET) as served:
        http = served.api.http
        minted = await http.post("/v1/tokens", headers=as_key(ALICE))
        token = minted.json()["token"]
        with_token = await http.get(PATH, headers=as_key(token))
        without_key = await http.get(PATH)
        wrong_key = await http.get(PATH, headers=as_key(BOB))
    assert assert_problem(with_token, 403)["type"] == "/problems/token-not-allowed"
    assert assert_problem(without_key, 401)["type"] == "/problems/unauthorized"
    assert assert_problem(wrong_key, 401)["type"] == "/problems/unauthorized"


async def test_without_webhook_secret_there_is_no_secret_to_read(serve: Serve) -> None:
    async with serve(api_keys=SecretStr(ALICE)) as served:
        answer = await served.api.http.get(PATH, headers=as_key(ALICE))
    body = assert_problem(answer, 409)
    assert body["type"] == "/problems/webhooks-not-configured"
    assert "WEBHOOK_SECRET" in body["detail"]


async def test_without_keys_the_shared_secret_is_never_handed_out(serve: Serve) -> None:
    async with serve(webhook_secret=SECRET) as served:
        answer = await served.api.http.get(PATH)
    body = assert_problem(answer, 409)
    assert body["type"] == "/problems/webhook-secrets-need-keys"
    assert "signed with WEBHOOK_SECRET itself" in body["detail"]
    assert SECRET not in answer.text

"""Signing a webhook the Standard Webhooks way (https://www.standardwebhooks.com).

The signature is `v1,` + base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")),
over the exact bytes sent. The key is the secret's UTF-8 bytes, as the contract says, not
the base64 after a `whsec_` prefix that Standard Webhooks libraries expect: a receiver using
such a library passes it the secret as `whsec_` + base64(secret) (docs/webhooks.md).

Which secret: without API keys, WEBHOOK_SECRET. A job of an API key is signed with that key's
own secret (`owner_secret`), so a receiver that holds it never accepts a webhook about another
key's job, wherever that key pointed its `callback_url`. It is derived from WEBHOOK_SECRET
and the owner id the job stores, never from the key: a key taken out of API_KEYS still has
its jobs' webhooks signed with the secret its holder already has. The holder reads it with
the key (`GET /v1/webhook-secret`).
"""

import base64
import hashlib
import hmac

USER_AGENT = "image-resize-service-webhooks/1.0"
# What a key's webhook secret is derived for (browser tokens derive theirs for another).
_PURPOSE = b"image-resize webhook secret v1:"


def owner_secret(webhook_secret: str, owner: str) -> str:
    """The secret the webhooks of the key with owner id `owner` are signed with: hex
    HMAC-SHA256 keyed by WEBHOOK_SECRET, used as UTF-8 bytes like WEBHOOK_SECRET itself."""
    return hmac.new(webhook_secret.encode(), _PURPOSE + owner.encode(), hashlib.sha256).hexdigest()


def job_secret(webhook_secret: str, owner: str) -> str:
    """The secret a job's webhooks are signed with: its key's; WEBHOOK_SECRET for a job made
    without keys (owner "")."""
    return owner_secret(webhook_secret, owner) if owner else webhook_secret


def signature(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signed_headers(secret: str, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every header of one try: JSON, who sends it, and the Standard Webhooks three."""
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret.encode("utf-8"), webhook_id, timestamp, body),
    }

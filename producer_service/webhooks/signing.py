"""Signing a webhook the Standard Webhooks way (https://www.standardwebhooks.com).

The signature is `v1,` + base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")),
over the exact bytes sent. The key is WEBHOOK_SECRET's UTF-8 bytes, as the contract says, not
the base64 after a `whsec_` prefix that Standard Webhooks libraries expect: a receiver using
such a library passes it the secret as `whsec_` + base64(secret) (docs/webhooks.md).
"""

import base64
import hashlib
import hmac

USER_AGENT = "image-resize-service-webhooks/1.0"


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

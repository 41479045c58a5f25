"""Where a webhook may go: the guard against server-side request forgery (SSRF).

A `callback_url` must be an absolute `https` URL (`http` too with WEBHOOK_ALLOW_PRIVATE) of at
most 2048 characters, naming a host and no user name or password. Its host is resolved at
submit, and every address it resolves to must be globally reachable (`shared.
addresses`: the IANA registries' special-purpose blocks, IPv4 inside IPv6 judged as the IPv4
it carries).

At delivery, `CheckedNetwork` resolves the host again for every connection, checks every
address as above, and connects to a checked address itself: a name that points elsewhere
between the check and the connect (DNS rebinding) cannot lead inside. TLS is still verified
against the URL's host name.
"""

from producer_service.errors import (
    CallbackTargetRefused,
    InvalidCallbackUrl,
    WebhooksNotConfigured,
)
from producer_service.url_fields import checked_url_field, refusal
from shared.addresses import Resolver, resolve_host

FIELD = "callback_url"


async def check_callback_url(
    raw: str, *, secret_set: bool, allow_private: bool, resolve: Resolver = resolve_host
) -> str:
    """The callback URL of a submit, checked; a 422 problem when it cannot be used."""
    url = raw.strip()
    if not secret_set:
        raise refusal(
            WebhooksNotConfigured,
            FIELD,
            "This service sends no webhooks (its operator has not set WEBHOOK_SECRET); "
            "submit without callback_url.",
        )
    return await checked_url_field(
        url,
        field=FIELD,
        allow_private=allow_private,
        resolve=resolve,
        invalid=InvalidCallbackUrl,
        refused=CallbackTargetRefused,
        public_only="webhooks go to public addresses only.",
    )

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
    ApiProblem,
    CallbackTargetRefused,
    InvalidCallbackUrl,
    WebhooksNotConfigured,
)
from shared.addresses import AddressRefused, Resolver, Unresolvable, resolve_host
from shared.url_targets import check_url

FIELD = "callback_url"


def _refusal(error: type[ApiProblem], detail: str) -> ApiProblem:
    return error(detail, errors=[{"loc": ["body", FIELD], "msg": detail, "type": error.slug}])


async def check_callback_url(
    raw: str, *, secret_set: bool, allow_private: bool, resolve: Resolver = resolve_host
) -> str:
    """The callback URL of a submit, checked; a 422 problem when it cannot be used."""
    url = raw.strip()
    if not secret_set:
        raise _refusal(
            WebhooksNotConfigured,
            "This service sends no webhooks (its operator has not set WEBHOOK_SECRET); "
            "submit without callback_url.",
        )
    try:
        await check_url(url, allow_private=allow_private, field=FIELD, resolve=resolve)
    except ValueError as exc:
        raise _refusal(InvalidCallbackUrl, str(exc)) from None
    except Unresolvable as exc:
        raise _refusal(InvalidCallbackUrl, f"callback_url's host {exc} does not resolve.") from None
    except AddressRefused as exc:
        raise _refusal(
            CallbackTargetRefused,
            f"callback_url's host {exc}; webhooks go to public addresses only.",
        ) from None
    return url

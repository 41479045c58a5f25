"""Where a webhook may go: the guard against server-side request forgery (SSRF).

A `callback_url` must be an absolute `https` URL (`http` too with WEBHOOK_ALLOW_PRIVATE) of at
most 2048 characters, naming a host and no user name or password. Its host is resolved at
submit, and every address it resolves to must be globally reachable (`producer_service.
addresses`: the IANA registries' special-purpose blocks, IPv4 inside IPv6 judged as the IPv4
it carries).

At delivery, `CheckedNetwork` resolves the host again for every connection, checks every
address as above, and connects to a checked address itself: a name that points elsewhere
between the check and the connect (DNS rebinding) cannot lead inside. TLS is still verified
against the URL's host name.
"""

import re
from dataclasses import dataclass
from ipaddress import ip_address

import httpx

from producer_service.addresses import (
    AddressRefused,
    Resolver,
    Unresolvable,
    check_addresses,
    resolve_host,
)
from producer_service.errors import (
    ApiProblem,
    CallbackTargetRefused,
    InvalidCallbackUrl,
    WebhooksNotConfigured,
)

MAX_URL_LENGTH = 2048
FIELD = "callback_url"

_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?", re.IGNORECASE)


@dataclass(frozen=True)
class Target:
    host: str
    port: int


def parse_target(url: str, *, allow_http: bool) -> Target:
    """The host and port of a callback URL; `ValueError` saying what is wrong with it."""
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"callback_url is longer than {MAX_URL_LENGTH} characters.")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"callback_url is not a URL: {exc}.") from None
    schemes = ("https", "http") if allow_http else ("https",)
    if parsed.scheme not in schemes or not parsed.is_absolute_url:
        raise ValueError(f"callback_url must be an absolute {' or '.join(schemes)} URL.")
    if parsed.userinfo:
        raise ValueError("callback_url must not hold a user name or password.")
    host = parsed.raw_host.decode("ascii")
    if not _is_host(host):
        raise ValueError(f"callback_url names no valid host ({host[:64]!r}).")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if not 1 <= port <= 65535:
        raise ValueError(f"callback_url has an impossible port ({port}).")
    return Target(host, port)


def _is_host(host: str) -> bool:
    try:
        ip_address(host)
    except ValueError:
        labels = host.removesuffix(".").split(".")
        return len(host) <= 253 and all(_LABEL.fullmatch(label) for label in labels)
    return True


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
        target = parse_target(url, allow_http=allow_private)
        addresses = await resolve(target.host, target.port)
    except ValueError as exc:
        raise _refusal(InvalidCallbackUrl, str(exc)) from None
    except Unresolvable:
        raise _refusal(
            InvalidCallbackUrl, f"callback_url's host {target.host} does not resolve."
        ) from None
    if not allow_private:
        try:
            check_addresses(target.host, addresses)
        except AddressRefused as exc:
            raise _refusal(
                CallbackTargetRefused,
                f"callback_url's host {exc}; webhooks go to public addresses only.",
            ) from None
    return url

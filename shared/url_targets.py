"""What a URL the service connects to on a user's say-so must look like (a webhook's target, an
image to fetch): absolute, `https` (`http` too where the deployment allows private targets), at
most 2048 characters, a valid host and port, and no user name or password (`https://public@
127.0.0.1/` names the host after the `@`, and a reader of the URL may be fooled by what precedes
it). Where its host may point is `shared.addresses`' to say.
"""

import re
from dataclasses import dataclass
from ipaddress import ip_address

import httpx

from shared.addresses import Resolver, check_addresses, resolve_host

MAX_URL_LENGTH = 2048

_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?", re.IGNORECASE)


@dataclass(frozen=True)
class Target:
    host: str
    port: int


def parse_target(url: str, *, allow_http: bool, field: str) -> Target:
    """The host and port of `url`; `ValueError` saying what is wrong with it, naming `field`."""
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"{field} is longer than {MAX_URL_LENGTH} characters.")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"{field} is not a URL: {exc}.") from None
    schemes = ("https", "http") if allow_http else ("https",)
    if parsed.scheme not in schemes or not parsed.is_absolute_url:
        raise ValueError(f"{field} must be an absolute {' or '.join(schemes)} URL.")
    if parsed.userinfo:
        raise ValueError(f"{field} must not hold a user name or password.")
    host = parsed.raw_host.decode("ascii")
    if not _is_host(host):
        raise ValueError(f"{field} names no valid host ({host[:64]!r}).")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if not 1 <= port <= 65535:
        raise ValueError(f"{field} has an impossible port ({port}).")
    return Target(host, port)


def _is_host(host: str) -> bool:
    try:
        ip_address(host)
    except ValueError:
        labels = host.removesuffix(".").split(".")
        return len(host) <= 253 and all(_LABEL.fullmatch(label) for label in labels)
    return True


async def check_url(
    url: str, *, allow_private: bool, field: str, resolve: Resolver = resolve_host
) -> Target:
    """`url` parsed, its host resolved and every address checked: `ValueError` (not such a
    URL), `Unresolvable` or `AddressRefused` (unless private targets are allowed)."""
    target = parse_target(url, allow_http=allow_private, field=field)
    addresses = await resolve(target.host, target.port)
    if not allow_private:
        check_addresses(target.host, addresses)
    return target

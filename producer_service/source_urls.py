"""Where an image may be fetched from: a submit's `source_url`, checked before the `202`.

The same guard as webhook targets (`shared.url_targets`, `shared.addresses`): an absolute
`https` URL (`http` too with SOURCE_URL_ALLOW_PRIVATE), no user name or password, a host that
resolves, and only to globally reachable addresses. The worker checks every address again
for each connection of the fetch and each redirect (`worker_service.fetch`): what resolves
to a public address now may not later.
"""

from producer_service.errors import ApiProblem, InvalidSourceUrl, SourceUrlRefused
from shared.addresses import AddressRefused, Resolver, Unresolvable, resolve_host
from shared.url_targets import check_url

FIELD = "source_url"


def _refusal(error: type[ApiProblem], detail: str) -> ApiProblem:
    return error(detail, errors=[{"loc": ["body", FIELD], "msg": detail, "type": error.slug}])


async def check_source_url(
    raw: str, *, allow_private: bool, resolve: Resolver = resolve_host
) -> str:
    """The source URL of a submit, checked; a 422 problem when it cannot be fetched from."""
    url = raw.strip()
    try:
        await check_url(url, allow_private=allow_private, field=FIELD, resolve=resolve)
    except ValueError as exc:
        raise _refusal(InvalidSourceUrl, str(exc)) from None
    except Unresolvable as exc:
        raise _refusal(InvalidSourceUrl, f"source_url's host {exc} does not resolve.") from None
    except AddressRefused as exc:
        raise _refusal(
            SourceUrlRefused,
            f"source_url's host {exc}; images are fetched from public addresses only.",
        ) from None
    return url

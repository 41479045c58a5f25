"""Where an image may be fetched from: a submit's `source_url`, checked before the `202`.

The same guard as webhook targets (`shared.url_targets`, `shared.addresses`): an absolute
`https` URL (`http` too with SOURCE_URL_ALLOW_PRIVATE), no user name or password, a host that
resolves, and only to globally reachable addresses. The worker checks every address again
for each connection of the fetch and each redirect (`worker_service.fetch`): what resolves
to a public address now may not later.
"""

from producer_service.errors import InvalidSourceUrl, SourceUrlRefused
from producer_service.url_fields import checked_url_field
from shared.addresses import Resolver, resolve_host

FIELD = "source_url"


async def check_source_url(
    raw: str, *, allow_private: bool, resolve: Resolver = resolve_host
) -> str:
    """The source URL of a submit, checked; a 422 problem when it cannot be fetched from."""
    return await checked_url_field(
        raw.strip(),
        field=FIELD,
        allow_private=allow_private,
        resolve=resolve,
        invalid=InvalidSourceUrl,
        refused=SourceUrlRefused,
        public_only="images are fetched from public addresses only.",
    )

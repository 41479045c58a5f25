"""A URL form field (`callback_url`, `source_url`) checked by the one SSRF guard
(`shared.url_targets`), each way it can fail turned into that field's 422 problem."""

from producer_service.errors import ApiProblem
from shared.addresses import AddressRefused, Resolver, Unresolvable
from shared.url_targets import check_url


def refusal(error: type[ApiProblem], field: str, detail: str) -> ApiProblem:
    return error(detail, errors=[{"loc": ["body", field], "msg": detail, "type": error.slug}])


async def checked_url_field(
    url: str,
    *,
    field: str,
    allow_private: bool,
    resolve: Resolver,
    invalid: type[ApiProblem],
    refused: type[ApiProblem],
    public_only: str,
) -> str:
    """`url` once the guard passes it; `invalid` when it is no usable URL or its host does
    not resolve, `refused` (its detail ending in `public_only`) when an address is not public."""
    try:
        await check_url(url, allow_private=allow_private, field=field, resolve=resolve)
    except ValueError as exc:
        raise refusal(invalid, field, str(exc)) from None
    except Unresolvable as exc:
        raise refusal(invalid, field, f"{field}'s host {exc} does not resolve.") from None
    except AddressRefused as exc:
        raise refusal(refused, field, f"{field}'s host {exc}; {public_only}") from None
    return url

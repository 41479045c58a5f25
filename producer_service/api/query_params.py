"""Each /v1 route takes only the query parameters it declares: any other is `422` naming it,
so a misspelt `?stauts=failed` or a form field sent as `?preset=` is not silently ignored."""

from typing import Any

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from producer_service.api.problems import problem_responses
from producer_service.errors import InvalidRequest
from producer_service.forms import FORM_FIELDS

# How many unknown names (and how much of each) are quoted back: the rest only counted.
_NAMED = 10
_QUOTED = 64


async def declared_query_only(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    declared = _query_names(route.dependant)
    unknown = list(dict.fromkeys(n for n in request.query_params if n not in declared))
    if not unknown:
        return
    names = ", ".join(f"`{name[:_QUOTED]}`" for name in unknown[:_NAMED])
    if len(unknown) > _NAMED:
        names += f" and {len(unknown) - _NAMED} more"
    takes = ", ".join(f"`{name}`" for name in sorted(declared)) or "none"
    detail = f"Unknown query parameter {names}: this route takes {takes}."
    if any(name in FORM_FIELDS for name in unknown):
        detail += " Form fields go in the multipart body, not the URL."
    raise InvalidRequest(
        detail,
        errors=[
            {"loc": ["query", name[:_QUOTED]], "msg": "Unknown query parameter", "type": "extra"}
            for name in unknown[:_NAMED]
        ],
    )


def _query_names(dependant: Dependant) -> frozenset[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return frozenset(names)


# What `include_router` gets for a /v1 router: the rule, and its 422 in every route's answers.
V1_RULES: dict[str, Any] = {
    "dependencies": [Depends(declared_query_only)],
    "responses": problem_responses(
        InvalidRequest,
        details={"validation-error": "Unknown query parameter `stauts`: this route takes none."},
    ),
}

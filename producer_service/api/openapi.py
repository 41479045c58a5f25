"""The OpenAPI document as the service tells it: FastAPI's own, amended once and cached."""

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI

Schema = dict[str, Any]
Amendment = Callable[[Schema], None]


def amend_openapi(app: FastAPI, *amendments: Amendment) -> None:
    """Have `app.openapi()` apply each amendment, in order, to FastAPI's document."""
    stock_openapi = app.openapi

    def openapi() -> Schema:
        if app.openapi_schema is None:
            schema = stock_openapi()
            for amend in amendments:
                amend(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def operations(schema: Schema) -> Iterator[Schema]:
    """Every operation of the document (a path's GET, POST, ...)."""
    for path in schema["paths"].values():
        yield from path.values()

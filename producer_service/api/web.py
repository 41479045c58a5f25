"""The page for people at `/`: upload images, pick variants, watch them resize, download.

Static files from `producer_service/web` (no build step), served open like the docs: the page
itself needs no key, and everything it does goes through the public `/v1` API with the key the
user types in. The page runs only its own scripts (a strict Content-Security-Policy): its
previews are `blob:` and `data:` URLs, its requests go to this origin alone.
"""

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
ASSETS_URL = "/web"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "img-src 'self' blob: data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",  # the form is sent by script, never by the browser
        "frame-ancestors 'none'",
    )
)
_NOSNIFF = {"X-Content-Type-Options": "nosniff"}
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # a new release's page at once, revalidated by ETag
    **_NOSNIFF,
}


class WebAssets(StaticFiles):
    """The page's scripts and styles, each marked nosniff (a module script must be served
    as JavaScript, never guessed)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.update({"Cache-Control": "no-cache", **_NOSNIFF})
        return response


def serve_web(app: FastAPI) -> None:
    """Add `GET /` and its assets under `/web`; neither is part of the API's document."""
    app.mount(ASSETS_URL, WebAssets(directory=WEB_DIR), name="web")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", headers=PAGE_HEADERS)

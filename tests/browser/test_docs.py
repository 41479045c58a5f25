"""The docs pages in a real browser: everything they load comes from the API itself, so they
work offline and tell no CDN that someone reads them (README: "no CDN")."""

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Route, expect

from producer_service.app import create_app
from tests.conftest import make_settings
from tests.fakes import InMemoryPublisher
from tests.support import serving

# The API as the browser sees it: a name, not localhost, since Swagger UI treats local APIs
# differently (no validator badge). Every request to it is answered by the API on its port.
ORIGIN = "http://docs.example"


@pytest.fixture
async def api_port(tmp_path: Path) -> AsyncIterator[int]:
    app = create_app(make_settings(tmp_path), publisher=InMemoryPublisher())
    async with serving(app) as port:
        yield port


@pytest.mark.parametrize(
    ("path", "rendered"),
    [("/docs", ".opblock >> nth=0"), ("/redoc", "text=API docs by Redocly")],
)
async def test_a_docs_page_asks_no_other_host_for_anything(
    browser: Browser, api_port: int, path: str, rendered: str
) -> None:
    async def from_the_api(route: Route) -> None:
        url = urlsplit(route.request.url)
        if f"{url.scheme}://{url.netloc}" != ORIGIN:
            await route.abort()  # a test never goes out to the internet
            return
        local = url._replace(netloc=f"127.0.0.1:{api_port}").geturl()
        await route.fulfill(response=await route.fetch(url=local))

    context = await browser.new_context()
    await context.route("**/*", from_the_api)
    page = await context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    await page.goto(f"{ORIGIN}{path}")
    await expect(page.locator(rendered)).to_be_visible()
    # What a page fetches once drawn (ReDoc's footer logo, Swagger UI's badge) comes after.
    await page.wait_for_load_state("networkidle")
    await context.close()

    assert f"{ORIGIN}/openapi.json" in requested
    elsewhere = [url for url in requested if not url.startswith(f"{ORIGIN}/")]
    assert elsewhere == []

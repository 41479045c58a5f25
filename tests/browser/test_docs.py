"""The docs pages in a real browser: everything they load comes from the API itself, so they
work offline and tell no CDN that someone reads them (README: "no CDN"); and Swagger UI's Try
it out, as a new user first tries the API: choose a file, Execute. Served without a broker (the
submit's 202 comes once the stand-in has the task)."""

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Route, expect

from producer_service.app import create_app
from shared.topology import Topology
from tests.browser.conftest import opened, screenshot
from tests.images import jpeg_bytes, write
from tests.memory_broker import MemoryBroker
from tests.support import make_settings, serving

# The API as the browser sees it: a name, not localhost, since Swagger UI treats local APIs
# differently (no validator badge). Every request to it is answered by the API on its port.
ORIGIN = "http://docs.example"
SUBMIT = "#operations-jobs-submit_job_v1_jobs_post"


@pytest.fixture
async def api_port(tmp_path: Path) -> AsyncIterator[int]:
    app = create_app(make_settings(tmp_path), MemoryBroker())
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


async def test_try_it_out_with_only_a_file_chosen_is_accepted(
    browser: Browser, tmp_path: Path
) -> None:
    photo = write(tmp_path / "photo.jpg", jpeg_bytes(640, 480))
    settings, broker = make_settings(tmp_path), MemoryBroker()
    app = create_app(settings, broker)
    async with serving(app) as port, opened(browser, f"http://127.0.0.1:{port}/docs") as page:
        operation = page.locator(SUBMIT)
        await operation.locator(".opblock-summary").click()
        await operation.get_by_role("button", name="Try it out").click()
        await operation.locator("input[type=file]").set_input_files(photo)
        await operation.get_by_role("button", name="Execute").click()
        status = operation.locator(".live-responses-table tr.response .response-col_status")
        await expect(status.first).to_have_text("202", timeout=10_000)
        await screenshot(page, "docs-try-it-out")
    assert len(broker.bodies(Topology.from_settings(settings).work_queue)) == 1

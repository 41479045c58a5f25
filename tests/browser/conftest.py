"""Browser tests: Debian's Chromium, driven by Playwright, against the real API, a real worker
and the test broker. Chromium comes from `make system-packages` (which `make test` runs
first); without it these tests fail, never skip."""

import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from producer_service.app import create_app
from shared.settings import Settings
from tests.client import ApiClient
from tests.support import ROOT, running_worker, serving, wait_for

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_executable() -> str:
    for path in CHROMIUM:
        if os.access(path, os.X_OK):
            return path
    pytest.fail(
        f"The browser tests need Debian's Chromium ({CHROMIUM[0]}): run `make system-packages`."
    )


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_executable()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        yield launched
        await launched.close()


@asynccontextmanager
async def site(settings: Settings, *, worker: bool = True) -> AsyncIterator[str]:
    """The API on a real port, ready for jobs, with a worker beside it unless told otherwise;
    the page's URL."""
    async with AsyncExitStack() as stack:
        port = await stack.enter_async_context(serving(create_app(settings)))
        if worker:
            await stack.enter_async_context(running_worker(settings))
        async with ApiClient.at(port) as api:
            await wait_for(api.is_ready, what="the API to be ready")
        yield f"http://127.0.0.1:{port}"


@asynccontextmanager
async def opened(browser: Browser, url: str, **context: object) -> AsyncIterator[Page]:
    """The page at `url` in a fresh context; on the way out, no script error may have happened
    (a script the Content-Security-Policy blocked is one)."""
    page = await (await browser.new_context(**context)).new_page()  # type: ignore[arg-type]
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: _note_error(message, errors))
    # File choosers are intercepted from the start: turned on by the first expect_file_chooser
    # instead, interception could come after a key press that opens one, and miss it.
    page.on("filechooser", lambda _: None)
    await page.goto(url)
    yield page
    await page.context.close()
    assert errors == []


def _note_error(message: ConsoleMessage, errors: list[str]) -> None:
    # Chromium logs each non-2xx answer; the page shows those itself, and the tests check it.
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        errors.append(message.text)


async def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot kept as a test artifact (test-artifacts/screenshots/)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path

"""Swagger UI at `/docs`, as a new user first tries the API: Try it out, choose a file,
Execute. Served without a broker (the submit's 202 comes once the stand-in has the task)."""

from pathlib import Path

from playwright.async_api import Browser, expect

from producer_service.app import create_app
from tests.browser.conftest import opened, screenshot
from tests.conftest import make_settings
from tests.fakes import InMemoryPublisher
from tests.images import jpeg_bytes, write
from tests.support import serving

SUBMIT = "#operations-jobs-submit_job_v1_jobs_post"


async def test_try_it_out_with_only_a_file_chosen_is_accepted(
    browser: Browser, tmp_path: Path
) -> None:
    photo = write(tmp_path / "photo.jpg", jpeg_bytes(640, 480))
    publisher = InMemoryPublisher()
    app = create_app(make_settings(tmp_path), publisher=publisher)
    async with serving(app) as port, opened(browser, f"http://127.0.0.1:{port}/docs") as page:
        operation = page.locator(SUBMIT)
        await operation.locator(".opblock-summary").click()
        await operation.get_by_role("button", name="Try it out").click()
        await operation.locator("input[type=file]").set_input_files(photo)
        await operation.get_by_role("button", name="Execute").click()
        status = operation.locator(".live-responses-table tr.response .response-col_status")
        await expect(status.first).to_have_text("202", timeout=10_000)
        await screenshot(page, "docs-try-it-out")
    assert len(publisher.tasks) == 1

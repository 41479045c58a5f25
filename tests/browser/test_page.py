"""The page at `/` in a real browser, against the real API, worker and broker: what a person
choosing images, sizes and a key sees, on a laptop and a phone, with a mouse and a keyboard."""

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
from playwright.async_api import Browser, Locator, Page, Route, expect
from pydantic import SecretStr

from shared.settings import Settings
from tests.browser.conftest import opened, screenshot, site
from tests.images import jpeg_bytes, load, undecodable_png, write
from tests.source_server import Answer, SourceServer
from tests.support import expired_token, running_worker, wait_for

DONE = 20_000  # ms: the longest a test waits for a job to finish in the page
KEY = "browser-key-0123456789"
TIMES = " \N{MULTIPLICATION SIGN} "


async def choose_files(page: Page, *paths: Path) -> None:
    """Through the drop zone's button and the browser's file chooser, as a person would."""
    async with page.expect_file_chooser() as chooser:
        await page.get_by_role("button", name="Choose images").click()
    await (await chooser.value).set_files(list(paths))


async def job_of(page: Page, card: Locator, key: str | None = None) -> dict[str, Any]:
    """The card's job as the API tells it (the card carries the job's id)."""
    job_id = await card.get_attribute("data-job-id")
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    response = await page.request.get(urljoin(page.url, f"/v1/jobs/{job_id}"), headers=headers)
    assert response.ok, await response.text()
    job: dict[str, Any] = await response.json()
    return job


async def hold_outputs(page: Page) -> asyncio.Event:
    """Outputs reach the page only once the returned event is set."""
    release = asyncio.Event()

    async def held(route: Route) -> None:
        await release.wait()
        await route.continue_()

    await page.route("**/v1/jobs/*/outputs/*", held)
    return release


def css_rgb(hex_colour: str) -> str:
    """`#rrggbb` as a computed style gives it back."""
    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


async def test_a_photo_becomes_thumbnails_shown_with_their_size_and_downloadable(
    broker_settings: Callable[..., Settings], browser: Browser, tmp_path: Path
) -> None:
    photo = write(tmp_path / "harbour.jpg", jpeg_bytes(640, 480))
    async with site(broker_settings()) as url, opened(browser, url) as page:
        await page.get_by_label("thumbnail", exact=True).check()
        await page.get_by_role("button", name="Add a custom size").click()
        custom = page.locator(".custom-variant")
        await custom.get_by_label("Name").fill("small")
        await custom.get_by_label("Width").fill("200")
        await custom.get_by_label("Format").select_option("png")
        await choose_files(page, photo)
        await expect(page.get_by_text("1 image chosen.")).to_be_visible()
        held = await hold_outputs(page)
        await page.get_by_role("button", name="Resize").click()

        # Done, outputs still on their way: the job's colour and ThumbHash, in its shape.
        card = page.locator(".card")
        await expect(card.locator(".card-status")).to_have_text("Done: 2 images", timeout=DONE)
        await expect(card.locator(".preview .thumbhash")).to_be_visible()
        job = await job_of(page, card)
        preview = card.locator(".preview")
        colour = await preview.evaluate("e => getComputedStyle(e).backgroundColor")
        assert colour == css_rgb(job["placeholder"]["dominant_color"])
        box = await preview.bounding_box()
        assert box is not None
        assert abs(box["width"] / box["height"] - 640 / 480) < 0.01
        await screenshot(page, "upload-placeholder")
        held.set()

        await expect(preview).to_be_hidden()
        await expect(page.locator("#announcer")).to_have_text("harbour.jpg: Done: 2 images")
        outputs = card.locator(".output")
        await expect(outputs).to_have_count(2)
        for image in await outputs.locator("img").all():
            await expect(image).to_be_visible()
        shown = {output["name"]: output for output in job["outputs"]}
        assert shown.keys() == {"thumb", "small"}
        for name, output in shown.items():
            size = f"{output['width']}{TIMES}{output['height']}"
            facts = f"{size} px · {output['size_bytes']:,} bytes"
            await expect(card.locator(f"[data-output={name}] .output-facts")).to_have_text(facts)
        assert (shown["thumb"]["width"], shown["small"]["width"]) == (320, 200)
        await screenshot(page, "upload-thumbnails")

        async with page.expect_download() as download_info:
            await card.get_by_role("link", name="Download small of harbour.jpg").click()
        download = await download_info.value
        assert download.suggested_filename == "harbour-small.png"
        data = await asyncio.to_thread(Path(await download.path()).read_bytes)
        image = load(data)
        assert (image.width, image.height) == (200, 150)
        assert len(data) == shown["small"]["size_bytes"]


async def test_an_image_address_becomes_a_job_the_service_fetches(
    broker_settings: Callable[..., Settings], browser: Browser
) -> None:
    settings = broker_settings(source_url_allow_private=True)
    routes = {"/cms/pier.jpg": Answer(body=jpeg_bytes(640, 480))}
    async with (
        SourceServer.running(routes) as images,
        site(settings) as url,
        opened(browser, url) as page,
    ):
        await page.get_by_label("thumbnail", exact=True).check()
        address = page.get_by_label("Image address")
        await address.fill("not an address")
        await page.get_by_role("button", name="Add address").click()
        await expect(page.get_by_text("No image chosen.")).to_be_visible()  # the browser said why
        await address.fill(images.url("/cms/pier.jpg"))
        await address.press("Enter")  # adds it, does not submit
        await expect(page.get_by_text("1 image chosen.")).to_be_visible()
        await expect(page.get_by_text("(fetched by the service)")).to_be_visible()
        await page.get_by_role("button", name="Resize").click()

        card = page.locator(".card")
        await expect(card.locator(".card-status")).to_have_text("Done: 1 image", timeout=DONE)
        job = await job_of(page, card)
        link = card.get_by_role("link", name=f"Download thumb of {images.url('/cms/pier.jpg')}")
        assert await link.get_attribute("download") == "pier-thumb.webp"
    assert job["source_url"] == images.url("/cms/pier.jpg")
    assert images.hits == {"/cms/pier.jpg": 1}


async def test_what_is_ticked_is_exactly_what_a_job_makes(
    broker_settings: Callable[..., Settings], browser: Browser, tmp_path: Path
) -> None:
    photo = write(tmp_path / "only.jpg", jpeg_bytes(640, 480))
    async with site(broker_settings()) as url, opened(browser, url) as page:
        boxes = page.locator("input[name=preset]")
        await expect(boxes).to_have_count(4)
        for box in await boxes.all():
            await expect(box).not_to_be_checked()
        await expect(
            page.get_by_text("Nothing ticked and no size added: the default")
        ).to_be_visible()
        await page.get_by_label("thumbnail", exact=True).check()
        await choose_files(page, photo)
        await page.get_by_role("button", name="Resize").click()

        card = page.locator(".card")
        await expect(card.locator(".card-status")).to_have_text("Done: 1 image", timeout=DONE)
        job = await job_of(page, card)
    assert [output["name"] for output in job["outputs"]] == ["thumb"]
    assert (job["outputs"][0]["width"], job["outputs"][0]["height"]) == (320, 320)


async def test_a_text_file_is_refused_and_a_broken_image_fails_in_plain_words(
    broker_settings: Callable[..., Settings], browser: Browser, tmp_path: Path
) -> None:
    notes = write(tmp_path / "notes.txt", b"shopping list: eggs, flour, a photo of the cat\n")
    broken = write(tmp_path / "broken.png", undecodable_png())
    async with site(broker_settings()) as url, opened(browser, url) as page:
        await choose_files(page, notes, broken)
        await page.get_by_role("button", name="Resize").click()
        refused, failed = page.locator(".card").nth(0), page.locator(".card").nth(1)
        await expect(refused.get_by_role("alert")).to_contain_text(
            "This file is not an image the service can read"
        )
        await expect(refused.locator(".card-status")).to_have_text("Not accepted")
        await expect(refused.get_by_role("button", name="Try again")).to_be_hidden()
        await expect(failed.locator(".card-status")).to_have_text("Failed", timeout=DONE)
        await expect(failed.get_by_role("alert")).to_have_text(
            "The image could not be decoded: it is truncated, corrupt or not what it claims."
        )
        await screenshot(page, "text-file-refused")


async def test_a_queued_job_is_cancelled_from_its_card(
    broker_settings: Callable[..., Settings], browser: Browser, tmp_path: Path
) -> None:
    photo = write(tmp_path / "wrong.jpg", jpeg_bytes(640, 480))
    # No worker: the job stays queued until the person cancels it.
    async with site(broker_settings(), worker=False) as url, opened(browser, url) as page:
        await choose_files(page, photo)
        await page.get_by_role("button", name="Resize").click()
        card = page.locator(".card")
        await expect(card.locator(".card-status")).to_have_text("Queued")
        await card.get_by_role("button", name="Cancel").click()
        await expect(card.locator(".card-status")).to_have_text("Cancelled")
        await expect(card.get_by_role("button", name="Cancel")).to_be_hidden()
        await expect(page.locator("#announcer")).to_have_text("wrong.jpg: Cancelled")
        job = await job_of(page, card)
    assert job["status"] == "cancelled"


async def test_with_api_keys_the_page_asks_for_the_key_then_follows_the_job_with_it(
    broker_settings: Callable[..., Settings], browser: Browser, tmp_path: Path
) -> None:
    photo = write(tmp_path / "portrait.jpg", jpeg_bytes(300, 400))
    settings = broker_settings(api_keys=SecretStr(KEY))
    async with site(settings) as url, opened(browser, url) as page:
        await expect(page.get_by_text("The presets could not be loaded.")).to_contain_text(
            "needs a valid API key"
        )
        await choose_files(page, photo)
        await page.get_by_role("button", name="Resize").click()
        card = page.locator(".card")
        await expect(card.get_by_role("alert")).to_contain_text(
            "enter yours in “API key or token” above"
        )
        await screenshot(page, "api-key-missing")

        await page.get_by_label("API key or token").fill(KEY)
        await page.get_by_label("API key or token").press("Tab")
        await expect(page.get_by_label("thumbnail", exact=True)).to_be_visible()
        async with page.expect_response(lambda r: r.url.endswith("/events")) as stream_info:
            await card.get_by_role("button", name="Try again").click()
        stream = await stream_info.value
        assert stream.status == 200
        assert await stream.request.header_value("authorization") == f"Bearer {KEY}"
        await expect(card.locator(".card-status")).to_have_text("Done: 2 images", timeout=DONE)
        for image in await card.locator(".output img").all():
            await expect(image).to_be_visible()  # fetched with the key too
        assert (await job_of(page, card, KEY))["status"] == "succeeded"
        await screenshot(page, "api-key-accepted")


async def test_a_token_link_opens_the_page_ready_to_upload_and_an_expired_one_is_refused(
    broker_settings: Callable[..., Settings], browser: Browser, tmp_path: Path
) -> None:
    """A backend mints a token with its key and links to `/#token=…`: the page uploads with
    the token, shows only the token's preset, and the key sees the job."""
    photo = write(tmp_path / "avatar.jpg", jpeg_bytes(400, 300))
    async with site(broker_settings(api_keys=SecretStr(KEY))) as url:
        async with httpx.AsyncClient(base_url=url) as backend:
            minted = await backend.post(
                "/v1/tokens",
                json={"preset": "thumbnail"},
                headers={"Authorization": f"Bearer {KEY}"},
            )
        token = minted.json()["token"]
        async with opened(browser, f"{url}/#token={token}") as page:
            assert page.url == f"{url}/"  # out of the address bar, history and bookmarks
            await expect(page.get_by_label("API key or token")).to_have_value(token)
            await expect(page.locator("input[name=preset]")).to_have_count(1)
            await expect(page.get_by_label("thumbnail", exact=True)).not_to_be_checked()
            await choose_files(page, photo)
            async with page.expect_request(lambda r: r.url.endswith("/v1/jobs")) as submit:
                await page.get_by_role("button", name="Resize").click()
            sent = await (await submit.value).header_value("authorization")
            card = page.locator(".card")
            await expect(card.locator(".card-status")).to_have_text("Done: 1 image", timeout=DONE)
            for image in await card.locator(".output img").all():
                await expect(image).to_be_visible()
            job = await job_of(page, card, KEY)
            await screenshot(page, "token-link")
        assert sent == f"Bearer {token}"
        assert (job["status"], job["preset"]) == ("succeeded", "thumbnail")

        async with opened(browser, f"{url}/#token={expired_token(KEY)}") as page:
            expired = "needs a valid API key or token: enter yours in “API key or token” above"
            problem = page.get_by_text("The presets could not be loaded.")
            await expect(problem).to_contain_text(f"{expired}, or check it. The token has expired.")
            await choose_files(page, photo)
            await page.get_by_role("button", name="Resize").click()
            alert = page.locator(".card").get_by_role("alert")
            await expect(alert).to_contain_text("The token has expired.")
            await screenshot(page, "token-expired")


async def test_on_a_phone_nothing_overflows_the_screen(
    broker_settings: Callable[..., Settings], browser: Browser, tmp_path: Path
) -> None:
    photo = write(
        tmp_path / "IMG_20240101_123456789_HDR_from_a_phone_camera_roll.jpg", jpeg_bytes()
    )
    phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
    async with site(broker_settings()) as url, opened(browser, url, **phone) as page:
        await page.get_by_label("default", exact=True).check()
        await page.get_by_role("button", name="Add a custom size").click()
        await choose_files(page, photo)
        await page.get_by_role("button", name="Resize").click()
        card = page.locator(".card")
        await expect(card.locator(".card-status")).to_have_text("Done: 3 images", timeout=DONE)
        for image in await card.locator(".output img").all():
            await expect(image).to_be_visible()
        await screenshot(page, "phone-390")
        for width in (390, 360):
            await page.set_viewport_size({"width": width, "height": 800})
            await assert_fits(page)
        await screenshot(page, "phone-360")


async def test_nothing_is_wider_than_a_desktop_window(
    broker_settings: Callable[..., Settings], browser: Browser
) -> None:
    async with site(broker_settings()) as url, opened(browser, url) as page:
        for width in (1280, 800):
            await page.set_viewport_size({"width": width, "height": 800})
            await assert_fits(page)


async def assert_fits(page: Page) -> None:
    """No sideways scrolling: the page is no wider than the window."""
    wide, window = await page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    assert wide <= window, f"{wide} px wide in a {window} px window"


async def test_everything_is_reachable_and_usable_with_the_keyboard(
    broker_settings: Callable[..., Settings], browser: Browser, tmp_path: Path
) -> None:
    photo = write(tmp_path / "keys.jpg", jpeg_bytes(320, 240))
    async with site(broker_settings()) as url, opened(browser, url) as page:
        reached = await tab_until(page, "drop-zone")
        assert reached[-2:] == ["api-key", "drop-zone"]
        outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline == "solid"  # the focus is visible
        async with page.expect_file_chooser() as chooser:
            await page.keyboard.press("Enter")
        await (await chooser.value).set_files(photo)
        await screenshot(page, "keyboard-focus")

        reached = await tab_until(page, "submit")
        assert {"preset-default", "preset-thumbnail", "add-variant"} <= set(reached)
        await page.keyboard.press("Enter")
        card = page.locator(".card")
        await expect(card.locator(".card-status")).to_have_text("Done: 2 images", timeout=DONE)
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.textContent") == "Clear finished"


async def tab_until(page: Page, target: str, most: int = 20) -> list[str]:
    """Press Tab until the element with id `target` has the focus; the ids (or texts) passed."""
    reached: list[str] = []
    while not reached or reached[-1] != target:
        assert len(reached) < most, f"Tab never reached #{target}: {reached}"
        await page.keyboard.press("Tab")
        reached.append(
            await page.evaluate("document.activeElement.id || document.activeElement.textContent")
        )
    return reached


async def test_a_cut_stream_resumes_after_its_last_event_and_a_failing_one_is_polled(
    broker_settings: Callable[..., Settings], browser: Browser, tmp_path: Path
) -> None:
    photo = write(tmp_path / "cut.jpg", jpeg_bytes(320, 240))
    resumed_after: list[str | None] = []  # Last-Event-ID of each request after the cut one

    async def cut_after_one_event(route: Route) -> None:
        """The first stream: one event with the job as it is (queued), then it ends."""
        if resumed_after or route.request.headers.get("last-event-id"):
            resumed_after.append(route.request.headers.get("last-event-id"))
            await route.continue_()
            return
        job = await page.request.get(route.request.url.removesuffix("/events"))
        event = f"id: cut-1\nevent: status\ndata: {await job.text()}\n\n"
        await route.fulfill(content_type="text/event-stream", body=event)

    settings = broker_settings()
    async with site(settings, worker=False) as url, opened(browser, url) as page:
        await page.route("**/v1/jobs/*/events", cut_after_one_event)
        await choose_files(page, photo)
        await page.get_by_role("button", name="Resize").click()
        card = page.locator(".card")

        async def reconnected() -> bool:
            return bool(resumed_after)

        await wait_for(reconnected, what="the page to open the stream again")
        await expect(card.locator(".card-status")).to_have_text("Queued")
        async with running_worker(settings):
            await expect(card.locator(".card-status")).to_have_text("Done: 2 images", timeout=DONE)
            assert resumed_after == ["cut-1"]
            first_id = await card.get_attribute("data-job-id")

            await page.unroute("**/v1/jobs/*/events")
            await page.route("**/v1/jobs/*/events", lambda route: route.abort())
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            await choose_files(page, photo)
            await page.get_by_role("button", name="Resize").click()
            second = page.locator(".card").nth(1)
            await expect(second.locator(".card-status")).to_have_text(
                "Done: 2 images", timeout=DONE
            )
            second_id = await second.get_attribute("data-job-id")
            assert second_id not in (None, first_id)
            assert urljoin(url, f"/v1/jobs/{second_id}") in requested  # polled: no stream

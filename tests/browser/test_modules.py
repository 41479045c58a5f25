"""The page's modules alone, in a browser, on a page served without a broker: the ThumbHash
decoder (a JavaScript port) against the worker's encoder, the words for each refusal, and the
variants a choice of presets and custom sizes sends."""

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pyvips
from playwright.async_api import Browser, Page, Route

from producer_service.app import create_app
from tests.browser.conftest import opened
from tests.memory_broker import MemoryBroker
from tests.support import make_settings, serving
from worker_service.thumbhash import rgba_to_thumbhash

RED, BLUE = (220, 40, 40), (40, 60, 220)
DECODE = "async (hash) => (await import('/web/thumbhash.js')).thumbHashToDataURL(hash)"


def red_left_blue_right(width: int, height: int) -> bytes:
    row = [*RED, 255] * (width // 2) + [*BLUE, 255] * (width - width // 2)
    return bytes(row * height)


@pytest.fixture
async def page(browser: Browser, tmp_path: Path) -> AsyncIterator[Page]:
    app = create_app(make_settings(tmp_path), MemoryBroker())
    async with serving(app) as port, opened(browser, f"http://127.0.0.1:{port}/") as opened_page:
        yield opened_page


async def test_a_workers_thumbhash_decodes_to_its_colours_and_shape(page: Page) -> None:
    thumbhash = rgba_to_thumbhash(32, 24, red_left_blue_right(32, 24))
    url = await page.evaluate(DECODE, base64.b64encode(thumbhash).decode())
    assert url.startswith("data:image/png;base64,")
    image = pyvips.Image.new_from_buffer(base64.b64decode(url.split(",", 1)[1]), "")
    assert image.width == 32
    assert 22 <= image.height <= 25  # the hash keeps the aspect ratio roughly
    assert image.bands == 4
    left = [image.extract_area(0, 0, 4, image.height).extract_band(b).avg() for b in range(3)]
    right = [image.extract_area(28, 0, 4, image.height).extract_band(b).avg() for b in range(3)]
    assert left[0] > left[2] + 80  # red on the left
    assert right[2] > right[0] + 80  # blue on the right


DESCRIBE = """async (cases) => {
    const { ApiError, describeError } = await import('/web/api.js');
    return cases.map(([status, seconds]) =>
        describeError(new ApiError(status, { detail: 'DETAIL.' }, seconds)));
}"""
SENTENCES = {
    (0, None): "The service did not answer. Check your connection and retry.",
    (401, None): "The service needs a valid API key or token: enter yours in “API key or token” "
    "above, or check it. DETAIL.",
    (413, None): "This file is too large for the service. DETAIL.",
    (415, None): "This file is not an image the service can read. DETAIL.",
    (422, None): "The service refused these settings. DETAIL.",
    (429, 7): "You have too many jobs running at once. DETAIL. Try again in 7 seconds.",
    (503, 5): "The service cannot take jobs right now. DETAIL. Try again in 5 seconds.",
}


async def test_each_refusal_reads_as_a_sentence_with_the_services_detail(page: Page) -> None:
    cases = list(SENTENCES)
    assert await page.evaluate(DESCRIBE, cases) == [SENTENCES[case] for case in cases]


CHOOSE = """async ([names, custom]) => {
    const { chooseVariants } = await import('/web/variants.js');
    const { loadPresets } = await import('/web/api.js');
    const presets = (await loadPresets()).filter((p) => names.includes(p.name));
    return chooseVariants(presets, custom);
}"""


async def choose(page: Page, presets: list[str], custom: list[dict[str, Any]]) -> Any:
    return await page.evaluate(CHOOSE, [presets, custom])


async def test_one_preset_is_sent_by_name_and_a_mix_as_variants_with_unique_names(
    page: Page,
) -> None:
    assert await choose(page, [], []) == {}  # the service's default
    assert await choose(page, ["avatar"], []) == {"preset": "avatar"}
    custom = {"name": "thumb", "width": 100, "fit": "contain", "format": "png"}
    mixed = await choose(page, ["default", "thumbnail"], [custom])
    names = [variant["name"] for variant in mixed["variants"]]
    assert names == ["thumb", "large", "thumbnail-thumb", "thumb-2"]
    assert mixed["variants"][3] == {**custom, "name": "thumb-2"}


FOLLOW = """async (id) => {
    const { followJob } = await import('/web/events.js');
    const seen = [];
    const job = await followJob(id, (state) => seen.push(state.status));
    return { ended: job.status, seen };
}"""


async def test_a_204_for_the_stream_ends_the_wait_with_the_job_as_it_ended(page: Page) -> None:
    """The API's answer to a reconnect after the final event: the page reads the job once
    and stops, instead of counting it as a failed stream and trying again."""
    job_id = "0b6f3c4e-8d1a-4c1e-9a57-3f0f1c2b7d10"
    streams: list[Route] = []

    async def nothing_more(route: Route) -> None:
        streams.append(route)
        await route.fulfill(status=204)

    await page.route("**/v1/jobs/*/events", nothing_more)
    await page.route(
        f"**/v1/jobs/{job_id}", lambda route: route.fulfill(json={"status": "succeeded"})
    )
    followed = await page.evaluate(FOLLOW, job_id)
    assert followed == {"ended": "succeeded", "seen": ["succeeded"]}
    assert len(streams) == 1

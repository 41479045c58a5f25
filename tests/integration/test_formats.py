"""The photos people send, through the API and a worker: what the job says about its source, the
preview it offers before the outputs load, and outputs that decode."""

import re

from shared.settings import Settings
from tests.client import ApiClient
from tests.images import FIXTURES, load
from tests.support import running_api, running_worker

VARIANTS = [
    {"name": "small", "width": 48, "format": "webp"},
    {"name": "square", "width": 32, "height": 32, "fit": "cover", "format": "jpeg"},
]
# fixture -> the format the job reports (every one of them is 96x64 as displayed)
SOURCES = {
    "phone.heic": "heic",
    "display_p3.jpg": "jpeg",
    "cmyk.jpg": "jpeg",
    "animated.gif": "gif",
    "animated.webp": "webp",
    "two_pages.tiff": "tiff",
    "alpha.png": "png",
    "rgb16.png": "png",
    "grey16.png": "png",
    "rotated.jpg": "jpeg",
}


async def test_every_format_succeeds_with_its_source_and_a_placeholder(broker: Settings) -> None:
    async with running_api(broker) as http:
        api = ApiClient(http)
        ids = {name: await api.submit((FIXTURES / name).read_bytes(), VARIANTS) for name in SOURCES}
        queued = await api.job(ids["phone.heic"])
        async with running_worker(broker):
            tally = await api.tally(list(ids.values()))
        jobs = dict(zip(ids, await api.jobs(list(ids.values())), strict=True))
        outputs = {
            name: [await http.get(output["url"]) for output in job["outputs"]]
            for name, job in jobs.items()
        }
    assert tally.succeeded == len(SOURCES), jobs
    assert (queued["source"], queued["placeholder"]) == (None, None)
    for name, job in jobs.items():
        assert job["status"] == "succeeded", (name, job["error"])
        assert job["source"] == {"format": SOURCES[name], "width": 96, "height": 64}, name
        assert re.fullmatch(r"#[0-9a-f]{6}", job["placeholder"]["dominant_color"])
        assert re.fullmatch(r"[A-Za-z0-9+/]{20,}={0,2}", job["placeholder"]["thumbhash"])
        small, square = (load(response.content) for response in outputs[name])
        assert (small.width, small.height, square.width, square.height) == (48, 32, 32, 32)
    assert jobs["phone.heic"]["placeholder"]["dominant_color"] == "#c82828"

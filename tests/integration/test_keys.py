"""API keys with a worker: a finished job's outputs are the creating key's alone, and cached
privately. (401s, 404s, 429s and per-key listing are in tests/unit/test_api_refusals.py.)"""

from collections.abc import Callable

from pydantic import SecretStr

from shared.settings import Settings
from tests.client import ApiClient, assert_problem
from tests.images import jpeg_bytes
from tests.support import ALICE, BOB, running_api, running_worker

THUMB = [{"name": "thumb", "width": 64, "format": "jpeg"}]


async def test_a_finished_jobs_outputs_are_only_its_keys_and_cached_privately(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(api_keys=SecretStr(f"{ALICE},{BOB}"))
    async with running_api(settings) as http, running_worker(settings):
        http.headers["Authorization"] = f"Bearer {ALICE}"
        api = ApiClient(http)
        job_id = await api.submit(jpeg_bytes(), THUMB)
        assert (await api.finished(job_id))["status"] == "succeeded"
        url = f"/v1/jobs/{job_id}/outputs/thumb"
        bobs = await http.get(url, headers={"Authorization": f"Bearer {BOB}"})
        alices = await http.get(url)
    assert assert_problem(bobs, 404)["type"] == "/problems/job-not-found"
    assert alices.status_code == 200
    assert alices.headers["cache-control"].startswith("private")  # no shared cache

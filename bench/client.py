"""The bench's client of the API: submit jobs, and wait until every one has succeeded.

Waiting asks the API two cheap questions (is any job queued? processing?) instead of reading
each job, so polling adds little load to what is measured; once both say no, the batch's ids
are checked against the succeeded jobs. Any failed job stops the run.

A 503 means "not accepted, send it again" in the API's contract, so a refused submit is sent
again after its Retry-After, as the CLI's client does (it sends them), and counted in
`refusals` for the report.
"""

import asyncio
import mimetypes
import time
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from bench.errors import BenchError
from producer_service.cli.client import FilePart, ResizeApi

POLL_SECONDS = 0.1
PAGE = 100
SUBMIT_RETRIES = 4


@dataclass(frozen=True)
class Upload:
    """One `POST /v1/jobs`: a file, the `variants` JSON and a `priority` (None: not sent)."""

    name: str
    data: bytes
    variants: str
    priority: str | None = None

    @property
    def fields(self) -> dict[str, str]:
        priority = {} if self.priority is None else {"priority": self.priority}
        return {"variants": self.variants, **priority}


class ServiceClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.api = ResizeApi(http, SUBMIT_RETRIES)
        # Refused submits sent again, by the problem's `reason`.
        self.refusals: Counter[str] = Counter()

    async def submit(self, upload: Upload) -> str:
        """The new job's id, sending it again after a 503; any other answer but 202 is an error."""
        media_type = mimetypes.guess_type(upload.name)[0] or "application/octet-stream"
        image = FilePart(upload.name, upload.data, media_type)
        response = await self.api.send(
            lambda: self.api.post_job(image, upload.fields), self._refused
        )
        if response.status_code != 202:
            raise BenchError(f"POST /v1/jobs answered {response.status_code}: {response.text}")
        return str(response.json()["id"])

    def _refused(self, response: httpx.Response) -> None:
        self.refusals[str(response.json().get("reason", "no reason"))] += 1

    async def submit_timed(self, upload: Upload, scheduled: float) -> tuple[str, float]:
        """Submit; the job's id and the seconds from `scheduled` (monotonic) to the answer."""
        job_id = await self.submit(upload)
        return job_id, time.monotonic() - scheduled

    async def submit_all(self, uploads: Sequence[Upload], concurrency: int) -> list[str]:
        """Submit every upload, `concurrency` at a time; the ids in the uploads' order."""
        ids = [""] * len(uploads)
        pending = iter(enumerate(uploads))

        async def submitter() -> None:
            for index, upload in pending:
                ids[index] = await self.submit(upload)

        async with asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, len(uploads))):
                group.create_task(submitter())
        return ids

    async def status(self, job_id: str) -> str:
        return str((await self.job(job_id))["status"])

    async def job(self, job_id: str) -> dict[str, Any]:
        return await self._get(f"/v1/jobs/{job_id}")

    async def finished(self, job_id: str, within: float = 120) -> dict[str, Any]:
        """The job once it has succeeded or failed."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            job = await self._get(f"/v1/jobs/{job_id}")
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return job
            await asyncio.sleep(POLL_SECONDS)
        raise BenchError(f"job {job_id} did not finish in {within:.0f} s")

    async def wait_succeeded(self, ids: Collection[str]) -> float:
        """Wait until every job has succeeded; the monotonic time that was first seen."""
        deadline = time.monotonic() + 60 + 2 * len(ids)
        while time.monotonic() < deadline:
            if not (await self._any("queued") or await self._any("processing")):
                seen_at = time.monotonic()
                await self._raise_if_failed()
                if await self._all_succeeded(ids):
                    return seen_at
            await asyncio.sleep(POLL_SECONDS)
        raise BenchError(f"{len(ids)} jobs did not all succeed in time")

    async def _any(self, status: str) -> bool:
        return bool(await self._page(status, limit=1))

    async def _raise_if_failed(self) -> None:
        for job in await self._page("failed", limit=1):
            raise BenchError(f"job {job['id']} failed: {job['error']}")

    async def _all_succeeded(self, ids: Collection[str]) -> bool:
        """Newest first, so a batch just finished is found on the first pages."""
        missing = set(ids)
        cursor: str | None = None
        while missing:
            page = await self._get("/v1/jobs", _params("succeeded", PAGE, cursor))
            missing -= {str(job["id"]) for job in page["items"]}
            cursor = page["next_cursor"]
            if cursor is None:
                break
        return not missing

    async def _page(self, status: str, limit: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await self._get("/v1/jobs", _params(status, limit)))["items"]
        return items

    async def _get(self, url: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        response = await self.http.get(url, params=params)
        if response.status_code != 200:
            raise BenchError(f"GET {url} answered {response.status_code}: {response.text}")
        body: dict[str, Any] = response.json()
        return body


def _params(status: str, limit: int, cursor: str | None = None) -> dict[str, str]:
    params = {"status": status, "limit": str(limit)}
    if cursor is not None:
        params["cursor"] = cursor
    return params

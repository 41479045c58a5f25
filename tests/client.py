"""One typed client for tests that drive the API over HTTP, in-process or on a real port."""

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

FINAL = ("succeeded", "failed")
Json = dict[str, Any]


@dataclass(frozen=True)
class Tally:
    """How a batch of accepted jobs ended; `lost` are those that never finished."""

    submitted: int
    succeeded: int
    failed: int
    lost: int


class ApiClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    @classmethod
    @contextlib.asynccontextmanager
    async def at(cls, port: int) -> AsyncIterator["ApiClient"]:
        """A client of an API listening on a local port."""
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            yield cls(http)

    async def post_job(
        self,
        image: bytes,
        variants: Sequence[Mapping[str, object]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """`POST /v1/jobs` as a browser form would send it, whatever the answer."""
        data = {} if variants is None else {"variants": json.dumps(list(variants))}
        return await self.http.post(
            "/v1/jobs",
            files={"file": ("photo.jpg", image, "image/jpeg")},
            data=data,
            headers=dict(headers or {}),
        )

    async def submit(
        self,
        image: bytes,
        variants: Sequence[Mapping[str, object]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Submit and insist on a 202; the new job's id."""
        response = await self.post_job(image, variants, headers)
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    async def job(self, job_id: str) -> Json:
        response = await self.http.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        body: Json = response.json()
        return body

    async def jobs(self, ids: Sequence[str]) -> list[Json]:
        return [await self.job(job_id) for job_id in ids]

    async def is_ready(self) -> bool:
        try:
            return (await self.http.get("/readyz")).status_code == 200
        except httpx.TransportError:
            return False

    async def tally(self, ids: Sequence[str], within: float = 60) -> Tally:
        """Wait for every job to finish; those still unfinished at the deadline are lost."""
        deadline = time.monotonic() + within
        while True:
            states = [job["status"] for job in await self.jobs(ids)]
            if all(state in FINAL for state in states) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        succeeded, failed = states.count("succeeded"), states.count("failed")
        return Tally(len(ids), succeeded, failed, len(ids) - succeeded - failed)

    async def wait_for_status(
        self, status: str, ids: Sequence[str], count: int, within: float = 60
    ) -> list[str]:
        """Wait until at least `count` of the jobs are in `status`; their ids."""
        deadline = time.monotonic() + within
        while True:
            matching = [str(job["id"]) for job in await self.jobs(ids) if job["status"] == status]
            if len(matching) >= count:
                return matching
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {count} jobs {status}")
            await asyncio.sleep(0.05)

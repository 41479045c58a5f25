"""One typed client for tests that drive the API over HTTP, in-process or on a real port: the
CLI's client (`producer_service.cli.client`), with a test's assertions and waits on top."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from producer_service.cli.client import FilePart, ResizeApi, server_events
from tests.support.waiting import polled, wait_for

FINAL = ("succeeded", "failed", "cancelled")
Json = dict[str, Any]


@dataclass(frozen=True)
class Event:
    """One Server-Sent Event of a job's stream."""

    id: str
    event: str
    job: Json


@dataclass(frozen=True)
class Tally:
    """How a batch of accepted jobs ended; `lost` are those that never finished."""

    submitted: int
    succeeded: int
    failed: int
    lost: int
    cancelled: int = 0


class ApiClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        # A test sees every answer as it is: no request is sent twice.
        self.api = ResizeApi(http, retries=0)

    @classmethod
    @contextlib.asynccontextmanager
    async def at(cls, port: int) -> AsyncIterator["ApiClient"]:
        """A client of an API listening on a local port."""
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            yield cls(http)

    async def post_job(
        self,
        image: bytes | None,
        variants: Sequence[Mapping[str, object]] | str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        part: str = "file",
        preset: str | None = None,
        callback_url: str | None = None,
        source_url: str | None = None,
    ) -> httpx.Response:
        """`POST /v1/jobs` as a browser form would send it, whatever the answer. `variants`
        as a string is sent as it is (to send what is not JSON); `image` None sends no file
        (a `source_url` instead, or neither)."""
        data = {}
        if source_url is not None:
            data["source_url"] = source_url
        if variants is not None:
            data["variants"] = variants if isinstance(variants, str) else json.dumps(variants)
        if preset is not None:
            data["preset"] = preset
        if callback_url is not None:
            data["callback_url"] = callback_url
        file = None if image is None else FilePart("photo.jpg", image, "image/jpeg")
        return await self.api.post_job(file, data, headers, part=part)

    async def submit(
        self,
        image: bytes,
        variants: Sequence[Mapping[str, object]] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        callback_url: str | None = None,
    ) -> str:
        """Submit and insist on a 202; the new job's id."""
        response = await self.post_job(image, variants, headers, callback_url=callback_url)
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    async def cancel(self, job_id: str) -> Json:
        """`POST /v1/jobs/{id}/cancel`, insisting on a 202; the job it answers with."""
        response = await self.http.post(f"/v1/jobs/{job_id}/cancel")
        assert response.status_code == 202, response.text
        body: Json = response.json()
        return body

    async def job(self, job_id: str) -> Json:
        response = await self.http.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        body: Json = response.json()
        return body

    async def jobs(self, ids: Sequence[str]) -> list[Json]:
        return [await self.job(job_id) for job_id in ids]

    async def events(self, job_id: str, last_event_id: str | None = None) -> list[Event]:
        """The job's event stream, read until the server ends it."""
        return [event async for event in self.follow(job_id, last_event_id)]

    async def follow(
        self, job_id: str, last_event_id: str | None = None, within: float = 30
    ) -> AsyncIterator[Event]:
        """The job's events as they arrive, until the server ends the stream."""
        headers = {} if last_event_id is None else {"Last-Event-ID": last_event_id}
        async with (
            asyncio.timeout(within),
            self.http.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers) as response,
        ):
            assert response.status_code == 200, await response.aread()
            assert response.headers["content-type"].startswith("text/event-stream")
            async for event in server_events(response.aiter_lines()):
                yield Event(event.id, event.event, json.loads(event.data))

    async def is_ready(self) -> bool:
        try:
            return (await self.http.get("/readyz")).status_code == 200
        except httpx.TransportError:
            return False

    async def finished(self, job_id: str, within: float = 30) -> Json:
        """The job once it has ended: succeeded, failed or cancelled."""
        (status,) = await self.wait_for_status(FINAL, [job_id], 1, within)
        return await self.job(status)

    async def tally(self, ids: Sequence[str], within: float = 60) -> Tally:
        """Wait for every job to finish; those still unfinished at the deadline are lost."""
        states: list[str] = []

        async def all_finished() -> bool:
            states[:] = [job["status"] for job in await self.jobs(ids)]
            return all(state in FINAL for state in states)

        await polled(all_finished, within)
        succeeded, failed = states.count("succeeded"), states.count("failed")
        cancelled = states.count("cancelled")
        lost = len(ids) - succeeded - failed - cancelled
        return Tally(len(ids), succeeded, failed, lost, cancelled)

    async def wait_for_status(
        self, status: str | Sequence[str], ids: Sequence[str], count: int, within: float = 60
    ) -> list[str]:
        """Wait until at least `count` of the jobs are in `status` (or one of several); their
        ids."""
        wanted = {status} if isinstance(status, str) else set(status)

        async def matching() -> list[str]:
            found = [str(job["id"]) for job in await self.jobs(ids) if job["status"] in wanted]
            return found if len(found) >= count else []

        found: list[str] = await wait_for(matching, within, f"{count} jobs {status}")
        return found


PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> Json:
    """The answer is an RFC 9457 problem with `status`; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: Json = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    return body

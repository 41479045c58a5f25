"""A three-node cluster loses a node under load, with QUEUE_TYPE=quorum: the API (in this
process) and two workers (real processes) are each connected to a different node first; jobs
are submitted every 0.1 s and processed while a node is killed, or cut off from the others.

Every submit must get 202 or 503 + Retry-After; every 202 job must end `succeeded` (lost: 0);
submits must get a 202 again within 30 s of the loss. Duplicates (a job delivered again, or
resized again) are counted and reported, not forbidden: delivery is at least once. Each run
writes its figures to test-artifacts/node-loss/<scenario>.json (the table in docs/faults.md).
"""

import asyncio
import contextlib
import json
import logging
import signal
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from shared.settings import Settings
from shared.topology import Topology
from tests.client import ApiClient
from tests.cluster.conftest import PrivateCluster
from tests.faults.proxy import CuttingProxy
from tests.images import jpeg_bytes
from tests.support import (
    ROOT,
    json_lines,
    logged,
    make_settings,
    running_api,
    service_env,
    started,
    wait_for,
)

pytestmark = pytest.mark.timeout(240)

THUMB = [{"name": "thumb", "width": 120, "format": "webp"}]
SUBMIT_EVERY_SECONDS = 0.1
BACK_WITHIN_SECONDS = 30
FIGURES = ROOT / "test-artifacts" / "node-loss"


@dataclass(frozen=True)
class Answer:
    sent: float
    answered: float
    status: int
    detail: str  # a 503's


@dataclass
class Submissions:
    """Submits a small job every SUBMIT_EVERY_SECONDS until stopped, keeping every answer."""

    api: ApiClient
    answers: list[Answer] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        image = jpeg_bytes(1600, 1200)  # tens of milliseconds: jobs are under way at a loss
        while not stop.is_set():
            sent = time.monotonic()
            response = await self.api.post_job(image, THUMB)
            assert response.status_code in (202, 503), response.text
            if response.status_code == 202:
                self.accepted.append(str(response.json()["id"]))
            else:
                assert int(response.headers["retry-after"]) > 0
            detail = "" if response.status_code == 202 else str(response.json()["detail"])
            self.answers.append(Answer(sent, time.monotonic(), response.status_code, detail))
            await asyncio.sleep(SUBMIT_EVERY_SECONDS)

    async def accepted_again(self, count: int = 3) -> None:
        """Return once `count` more submits got a 202."""
        target = len(self.accepted) + count

        async def enough() -> bool:
            return len(self.accepted) >= target

        await wait_for(enough, within=BACK_WITHIN_SECONDS, what=f"{count} more 202s")

    async def seconds_without_202(self, loss: float) -> float:
        """From the last 202 before `loss` to the first 202 of a submit sent after it; fails
        unless that 202 comes within BACK_WITHIN_SECONDS of the loss."""

        async def first_after() -> Answer | None:
            return next((a for a in self.answers if a.sent >= loss and a.status == 202), None)

        try:
            back: Answer = await wait_for(
                first_after, within=BACK_WITHIN_SECONDS, what="a 202 after the loss"
            )
        except AssertionError as exc:
            refusals = Counter(a.detail for a in self.answers if a.sent >= loss)
            raise AssertionError(f"{exc}; answers since: {refusals}") from None
        last = max(a.answered for a in self.answers if a.answered < loss and a.status == 202)
        return round(back.answered - last, 1)


@contextlib.asynccontextmanager
async def submitting(api: ApiClient) -> AsyncIterator[Submissions]:
    submissions = Submissions(api)
    stop = asyncio.Event()
    task = asyncio.create_task(submissions.run(stop))
    try:
        await submissions.accepted_again()
        yield submissions
    finally:
        stop.set()
        await task


@contextlib.contextmanager
def worker(settings: Settings, amqp_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A worker process connected to AMQP_URL's first node first, logging JSON to `log`."""
    own = settings.model_copy(update={"amqp_url": amqp_url, "log_format": "json"})
    with started("worker_service", service_env(own), log) as process:
        yield process
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text()


async def consuming(*logs: Path) -> None:
    for log in logs:
        await wait_for(logged(log, " consuming "), within=30, what=f"{log.name} to consume")


def quorum_settings(tmp_path: Path, amqp_url: str) -> Settings:
    return make_settings(tmp_path, amqp_url=amqp_url, queue_type="quorum", worker_concurrency=2)


async def outcome(scenario: str, submissions: Submissions, api: ApiClient) -> dict[str, object]:
    """The scenario's row of the node-loss table, once every accepted job has ended."""
    tally = await api.tally(submissions.accepted, within=90)
    assert (tally.succeeded, tally.failed, tally.lost) == (len(submissions.accepted), 0, 0)
    return {
        "scenario": scenario,
        "submitted": len(submissions.answers),
        "accepted_202": len(submissions.accepted),
        "refused_503": sum(a.status == 503 for a in submissions.answers),
        "succeeded": tally.succeeded,
        "lost": tally.lost,
    }


# What a worker logs as it takes a delivery of a job: it starts a resize, or finds the job done.
STARTED, ALREADY_DONE = "processing", "already done, not redone"


def record(row: dict[str, object], accepted: list[str], logs: list[Path]) -> None:
    """Count from the (stopped) workers' logs the jobs delivered more than once, and those
    resized more than once; keep the row in test-artifacts."""
    entries = [entry for log in logs for entry in json_lines(log)]
    started = Counter(entry["job_id"] for entry in entries if entry["message"] == STARTED)
    delivered = started + Counter(
        entry["job_id"] for entry in entries if entry["message"] == ALREADY_DONE
    )
    row["delivered_again"] = sum(count > 1 for count in delivered.values())
    row["resized_twice"] = sum(count > 1 for count in started.values())
    FIGURES.mkdir(parents=True, exist_ok=True)
    (FIGURES / f"{row['scenario']}.json").write_text(json.dumps(row, indent=2) + "\n")
    assert sorted(started) == sorted(accepted), "a job succeeded without a worker resizing it"


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "shared.outages"]


async def test_killing_the_apis_node_then_a_workers_node_loses_no_job(
    cluster: PrivateCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    one, two, three = cluster.ports
    settings = quorum_settings(tmp_path, cluster.urls_from(one))
    logs = [tmp_path / "worker-two.log", tmp_path / "worker-three.log"]
    with caplog.at_level(logging.INFO):
        # The API declares every queue first, from node one: their leaders are there.
        async with running_api(settings) as http:
            api = ApiClient(http)
            with (
                worker(settings, cluster.urls_from(two), logs[0]),
                worker(settings, cluster.urls_from(three), logs[1]),
            ):
                await consuming(*logs)
                work_queue = Topology.from_settings(settings).work_queue
                assert await cluster.leader(work_queue, asking=two) == one
                async with submitting(api) as submissions:
                    killed = time.monotonic()
                    cluster.kill(one)  # the API's node and the work queue's leader
                    api_node = await submissions.seconds_without_202(killed)
                    await cluster.restart(one)
                    await submissions.accepted_again()
                    killed = time.monotonic()
                    cluster.kill(two)  # a worker's node (the API moved there too)
                    worker_node = await submissions.seconds_without_202(killed)
                    await submissions.accepted_again()
                restarting = asyncio.create_task(cluster.restart(two))
                row = await outcome("kill", submissions, api)
                await wait_for(logged(logs[0], "broker connection back"), what="re-consuming")
                await restarting
    row |= {"seconds_without_202": [api_node, worker_node]}
    record(row, submissions.accepted, logs)
    lines = outage_lines(caplog)
    assert any(f"at 127.0.0.1:{one}; reconnecting" in line for line in lines), lines
    assert any(line.endswith(f", at 127.0.0.1:{two}") for line in lines), lines


async def test_a_node_cut_off_from_the_others_and_its_clients_loses_no_job(
    cluster: PrivateCluster, tmp_path: Path
) -> None:
    one, two, three = cluster.ports
    logs = [tmp_path / "worker-one.log", tmp_path / "worker-two.log"]
    async with CuttingProxy.open("127.0.0.1", three) as path_to_three:
        # The API reaches node three through a proxy: a partition cuts its path there too.
        urls = f"{cluster.url(path_to_three.port)},{cluster.url(one)},{cluster.url(two)}"
        settings = quorum_settings(tmp_path, urls)
        async with running_api(settings) as http:
            api = ApiClient(http)
            with (
                worker(settings, cluster.urls_from(one), logs[0]),
                worker(settings, cluster.urls_from(two), logs[1]),
            ):
                await consuming(*logs)
                work_queue = Topology.from_settings(settings).work_queue
                assert await cluster.leader(work_queue, asking=one) == three
                async with submitting(api) as submissions:
                    cut = time.monotonic()
                    path_to_three.go_down()
                    await cluster.cut_off(three, seconds=10)
                    await wait_for(lambda: cluster.sees(one, 2), what="node three cut off")
                    assert await cluster.leader(work_queue, asking=one) != three
                    api_node = await submissions.seconds_without_202(cut)
                    await cluster.whole(one)  # node three is back in the cluster
                    path_to_three.come_back()
                    await submissions.accepted_again()
                row = await outcome("partition", submissions, api)
    record(row | {"seconds_without_202": [api_node]}, submissions.accepted, logs)

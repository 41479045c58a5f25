"""The command-line client's parts, against fake HTTP answers (httpx.MockTransport)."""

import asyncio
import importlib
import json
import sys
import tomllib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from producer_service.api.examples import JOB_EXAMPLES
from producer_service.cli import client
from producer_service.cli.__main__ import build_parser, form_fields, main
from producer_service.cli.batch import Options, Result, process
from producer_service.cli.client import Refused, ResizeApi, Unauthorized, retry_after
from producer_service.cli.files import as_input, collect, output_folders
from shared.schemas import JobStatus
from tests.support import ROOT

Handler = Callable[[httpx.Request], httpx.Response]
JOB_ID = JOB_EXAMPLES["queued"]["id"]


def api_answering(handler: Handler, retries: int = 3) -> ResizeApi:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://api")
    return ResizeApi(http, retries)


def problem(status: int, detail: str, retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    body = {"type": "about:blank", "title": "t", "status": status, "detail": detail}
    return httpx.Response(status, json=body, headers=headers)


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"image")
    return path


def test_folders_are_walked_in_path_order_without_hidden_files_or_folders(tmp_path: Path) -> None:
    files = [touch(tmp_path / name) for name in ("b/z.jpg", "a/y.png", "c.gif", "a/deep/x.jpg")]
    touch(tmp_path / ".DS_Store")
    touch(tmp_path / "a/.thumbs/w.jpg")
    assert collect([tmp_path]) == sorted(files)


def test_files_named_are_sent_even_when_hidden_and_only_once(tmp_path: Path) -> None:
    hidden, shown = touch(tmp_path / ".hidden.jpg"), touch(tmp_path / "shown.jpg")
    assert collect([hidden, tmp_path, shown]) == [hidden, shown]


def test_inputs_sharing_a_stem_get_numbered_folders_in_path_order(tmp_path: Path) -> None:
    files = [Path("b/x.png"), Path("a/x.jpg"), Path("c/X.webp"), Path("x-2.jpg"), Path("y.jpg")]
    folders = output_folders(files, tmp_path)
    names = [folder.relative_to(tmp_path).as_posix() for folder in folders]
    # a/x.jpg sorts first; x-2 is a stem of its own, so the third x is x-3.
    assert names == ["x-3", "x", "x-4", "x-2", "y"]


def test_http_and_https_arguments_are_urls_and_get_folders_from_their_path(
    tmp_path: Path,
) -> None:
    photo = touch(tmp_path / "photo.jpg")
    url = "https://images.example.com/cms/photo.jpg?size=large"
    inputs = [as_input(str(photo)), as_input(url), as_input("HTTP://images.example.com/"), url]
    assert inputs[1:3] == [url, "HTTP://images.example.com/"]
    files = collect(inputs)
    assert files == [photo, url, "HTTP://images.example.com/"]  # a URL given twice, sent once
    names = [folder.name for folder in output_folders(files, tmp_path / "out")]
    assert names == ["photo", "photo-2", "images.example.com"]


async def test_a_url_is_submitted_as_source_url_without_a_file() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(202, json=JOB_EXAMPLES["queued"])

    url = "https://images.example.com/photo.jpg"
    await api_answering(handler).submit(url, {"preset": "avatar"}, "k")
    [request] = sent
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert b'name="source_url"\r\n\r\n' + url.encode() in request.content
    assert b'name="preset"' in request.content
    assert b'name="file"' not in request.content


def test_retry_after_reads_seconds_and_http_dates() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert retry_after(problem(429, "busy", "3")) == 3
    assert 25 < (retry_after(problem(503, "down", later)) or 0) <= 30
    assert retry_after(problem(503, "down")) == client.DEFAULT_RETRY_SECONDS
    assert retry_after(problem(409, "reused")) is None
    assert retry_after(problem(415, "not an image", "3")) is None


async def test_submit_waits_out_429_and_503_and_resends_with_the_same_key(tmp_path: Path) -> None:
    answers = [problem(429, "too many", "0"), problem(503, "broker down", "0")]
    keys: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers.get("Idempotency-Key"))
        assert b'name="variants"' in request.content
        return answers.pop(0) if answers else httpx.Response(202, json=JOB_EXAMPLES["queued"])

    api = api_answering(handler)
    job = await api.submit(touch(tmp_path / "a.jpg"), {"variants": "[]"}, "key-1")
    assert str(job.id) == JOB_ID
    assert keys == ["key-1"] * 3


async def test_submit_gives_up_after_its_retries_with_the_last_problem(tmp_path: Path) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return problem(429, "The key holds too many active jobs.", "0")

    with pytest.raises(Refused, match="429: The key holds too many active jobs"):
        await api_answering(handler, retries=2).submit(touch(tmp_path / "a.jpg"), {}, "k")
    assert len(sent) == 3


async def test_a_submit_that_got_no_answer_is_sent_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client, "DEFAULT_RETRY_SECONDS", 0.0)
    tries = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal tries
        tries += 1
        if tries == 1:
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return httpx.Response(202, json=JOB_EXAMPLES["queued"])

    await api_answering(handler).submit(touch(tmp_path / "a.jpg"), {}, "k")
    assert tries == 2


async def test_the_first_submit_goes_alone_and_a_401_refuses_the_rest_unsent(
    tmp_path: Path,
) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return problem(401, "Missing or unknown API key.")

    api = api_answering(handler)
    files = [touch(tmp_path / f"{n}.jpg") for n in range(4)]
    answers = await asyncio.gather(
        *(api.submit(path, {}, path.name) for path in files), return_exceptions=True
    )
    assert [type(answer) for answer in answers] == [Unauthorized] * 4
    assert str(answers[0]) == "401: Missing or unknown API key."
    assert len(sent) == 1


async def test_after_a_401_later_in_a_run_no_submit_is_sent(tmp_path: Path) -> None:
    answers = [httpx.Response(202, json=JOB_EXAMPLES["queued"]), problem(401, "Key revoked.")]
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answers.pop(0)

    api = api_answering(handler)
    await api.submit(touch(tmp_path / "a.jpg"), {}, "a")
    for name in ("b.jpg", "c.jpg"):
        with pytest.raises(Unauthorized, match="401: Key revoked"):
            await api.submit(touch(tmp_path / name), {}, name)
    assert len(sent) == 2


def test_the_resize_console_script_is_the_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`.venv/bin/resize` runs what pyproject.toml names, as pip's script does: no arguments."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["resize"].partition(":")
    entry_point = getattr(importlib.import_module(module), function)
    monkeypatch.setattr(sys, "argv", [str(ROOT / ".venv/bin/resize"), "submit", "--help"])
    with pytest.raises(SystemExit) as exited:
        entry_point()
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("usage: resize submit [-h]")


def sse(*jobs: dict[str, object]) -> bytes:
    return b"".join(
        f": ping\n\nid: {n}\nevent: status\ndata: {json.dumps(job)}\n\n".encode()
        for n, job in enumerate(jobs)
    )


async def test_follow_reads_the_event_stream_until_the_job_ends() -> None:
    queued, succeeded = JOB_EXAMPLES["queued"], JOB_EXAMPLES["succeeded"]

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"/v1/jobs/{JOB_ID}/events"
        return httpx.Response(200, content=sse(queued, succeeded))

    seen: list[JobStatus] = []
    job = await api_answering(handler).follow(uuid.UUID(JOB_ID), lambda j: seen.append(j.status))
    assert seen == [JobStatus.QUEUED, JobStatus.SUCCEEDED]
    assert job.outputs


@pytest.mark.parametrize("stream", [problem(502, "bad gateway"), httpx.Response(200, content=b"")])
async def test_follow_polls_when_the_stream_fails_or_ends_early(
    stream: httpx.Response, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client, "POLL_SECONDS", 0.0)
    states = [JOB_EXAMPLES["queued"], JOB_EXAMPLES["failed"]]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            return stream
        return httpx.Response(200, json=states.pop(0))

    seen: list[JobStatus] = []
    job = await api_answering(handler).follow(uuid.UUID(JOB_ID), lambda j: seen.append(j.status))
    assert seen == [JobStatus.QUEUED, JobStatus.FAILED]
    assert job.error is not None


@pytest.mark.parametrize(
    "arguments",
    [
        ["submit", "--out", "o"],
        ["submit", "in", "--out", "o", "--variants", "{not json"],
        ["submit", "in", "--out", "o", "--variants", "[]", "--preset", "avatar"],
        ["submit", "in", "--out", "o", "--concurrency", "0"],
        ["submit", "missing", "--out", "o"],
        ["submit", "empty", "--out", "o"],
    ],
)
def test_usage_errors_exit_with_status_2(arguments: list[str], tmp_path: Path) -> None:
    touch(tmp_path / "in/a.jpg")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exited:
        main(arguments)
    assert exited.value.code == 2


def test_variants_a_preset_and_the_priority_become_the_submits_form_fields() -> None:
    def fields(*options: str) -> dict[str, str]:
        return form_fields(build_parser().parse_args(["submit", "a.jpg", "--out", "o", *options]))

    assert fields("--variants", '[{"name": "a", "width": 9}]') == {
        "variants": '[{"name": "a", "width": 9}]',
        "priority": "bulk",
    }
    assert fields("--preset", "avatar") == {"preset": "avatar", "priority": "bulk"}
    # The service's default variants; a batch is bulk unless told otherwise.
    assert fields() == {"priority": "bulk"}
    assert fields("--priority", "interactive") == {"priority": "interactive"}


async def test_an_event_stream_is_read_event_by_event_skipping_keep_alives() -> None:
    async def lines() -> AsyncIterator[str]:
        for line in [": keep-alive", "", "id: 1", "event: status", "data: {", 'data: "a": 1}']:
            yield line
        for line in ["", "retry: 10", "data: plain", "", "id: 3", "event: status"]:
            yield line

    events = [event async for event in client.server_events(lines())]
    assert events == [
        client.ServerEvent("1", "status", '{\n"a": 1}'),
        client.ServerEvent("", "message", "plain"),
    ]


async def test_a_job_cancelled_while_the_cli_waits_is_reported_cancelled_not_downloaded(
    tmp_path: Path,
) -> None:
    queued = JOB_EXAMPLES["queued"]
    cancelled = JOB_EXAMPLES["cancelled"]
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if request.method == "POST":
            return httpx.Response(202, json=queued)
        return httpx.Response(200, content=sse(queued, cancelled))

    options = Options("http://api", None, {}, concurrency=1, retries=0)
    photo = touch(tmp_path / "a.jpg")
    outcome = await process(
        api_answering(handler), options, photo, tmp_path / "out", lambda *_: None
    )
    assert outcome.result is Result.CANCELLED
    assert paths == ["/v1/jobs", f"/v1/jobs/{JOB_ID}/events"]  # no download

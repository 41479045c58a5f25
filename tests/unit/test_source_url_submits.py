"""What a submit with `source_url` is answered, in process over an in-memory broker: `202` at
once with the URL in the task and nothing stored yet; `422` for what is not an https URL, or
resolves to a private address (unless SOURCE_URL_ALLOW_PRIVATE), for both `file` and
`source_url` or neither; Idempotency-Keys cover the URL. A refused submit keeps nothing."""

import pytest

from tests.client import assert_problem
from tests.images import jpeg_bytes
from tests.support.inspection import originals
from tests.support.served import Serve

THUMB = [{"name": "thumb", "width": 64}]

# Each of these resolves, or is, an address that is not globally reachable.
PRIVATE_SOURCES = [
    "https://127.0.0.1/photo.jpg",
    "https://localhost/photo.jpg",  # a name that resolves to loopback
    "https://10.1.2.3/photo.jpg",
    "https://172.16.0.1/photo.jpg",
    "https://192.168.1.1/photo.jpg",
    "https://100.64.0.1/photo.jpg",
    "https://169.254.169.254/latest/meta-data/",  # cloud metadata
    "https://0.0.0.0/photo.jpg",
    "https://[::1]/photo.jpg",
    "https://[::ffff:127.0.0.1]/photo.jpg",  # IPv4-mapped IPv6
    "https://[::ffff:169.254.169.254]/photo.jpg",
    "https://[fe80::1]/photo.jpg",
    "https://[fd00::1]/photo.jpg",
    "https://[64:ff9b::a00:1]/photo.jpg",  # NAT64 around 10.0.0.1
    "https://2130706433/photo.jpg",  # 127.0.0.1 as one decimal number
    "https://0x7f.1/photo.jpg",  # and in hex
    "https://127.1/photo.jpg",
]


@pytest.mark.parametrize("url", PRIVATE_SOURCES)
async def test_a_source_on_a_private_address_is_refused_by_default(serve: Serve, url: str) -> None:
    async with serve() as served:
        answer = await served.api.post_job(None, THUMB, source_url=url)
        await served.assert_nothing_kept()
    body = assert_problem(answer, 422)
    assert body["type"] == "/problems/source-url-refused"
    assert body["errors"][0]["loc"] == ["body", "source_url"]
    assert "public addresses only" in body["detail"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://images.example.com/photo.jpg", "absolute https URL"),
        ("file:///etc/passwd", "absolute https URL"),
        ("ftp://images.example.com/photo.jpg", "absolute https URL"),
        ("gopher://images.example.com/", "absolute https URL"),
        ("/photo.jpg", "absolute https URL"),
        ("https://public@127.0.0.1/photo.jpg", "user name or password"),
        ("https://user:secret@images.example.com/photo.jpg", "user name or password"),
        ("https://images example.com/photo.jpg", "no valid host"),
        ("https://images.example.com:70000/", "impossible port"),
        ("https://images.example.com/" + "x" * 2048, "longer than 2048"),
        ("https://no-such-host.invalid/photo.jpg", "does not resolve"),
    ],
)
async def test_a_source_url_the_service_cannot_fetch_is_a_422_saying_why(
    serve: Serve, url: str, says: str
) -> None:
    async with serve() as served:
        answer = await served.api.post_job(None, THUMB, source_url=url)
        await served.assert_nothing_kept()
    body = assert_problem(answer, 422)
    assert body["type"] == "/problems/invalid-source-url"
    assert says in body["detail"]


async def test_a_source_url_is_accepted_at_once_and_fetched_later(serve: Serve) -> None:
    url = "http://127.0.0.1:9/never-fetched-by-the-api.jpg"
    async with serve(source_url_allow_private=True) as served:
        answer = await served.api.post_job(None, THUMB, source_url=url)
        assert answer.status_code == 202, answer.text
        job = answer.json()
        assert job["source_url"] == url
        assert job["status"] == "queued"
        [task] = served.tasks
        assert task.source_url == url
        assert str(task.job_id) == job["id"]
        assert originals(served.settings) == []  # the worker fetches it
        assert (await served.api.job(job["id"]))["source_url"] == url


async def test_an_upload_has_no_source_url(serve: Serve) -> None:
    async with serve() as served:
        job_id = await served.api.submit(jpeg_bytes(), THUMB)
        assert (await served.api.job(job_id))["source_url"] is None
        assert served.tasks[0].source_url is None


async def test_both_file_and_source_url_is_a_422(serve: Serve) -> None:
    async with serve(source_url_allow_private=True) as served:
        answer = await served.api.post_job(jpeg_bytes(), THUMB, source_url="http://127.0.0.1/x")
        await served.assert_nothing_kept()
    body = assert_problem(answer, 422)
    assert body["errors"][0]["loc"] == ["body", "source_url"]
    assert "not both" in body["detail"]


@pytest.mark.parametrize("blank", [None, "", "   "])
async def test_neither_file_nor_source_url_is_a_422(serve: Serve, blank: str | None) -> None:
    async with serve() as served:
        answer = await served.api.post_job(None, THUMB, source_url=blank)
        await served.assert_nothing_kept()
    body = assert_problem(answer, 422)
    assert body["errors"][0]["loc"] == ["body", "file"]
    assert "`source_url`" in body["detail"]


async def test_an_idempotency_key_replays_the_same_url_and_refuses_another(
    serve: Serve,
) -> None:
    first_url = "http://127.0.0.1:9/a.jpg"
    key = {"Idempotency-Key": "import-1"}
    async with serve(source_url_allow_private=True) as served:
        first = await served.api.post_job(None, THUMB, key, source_url=first_url)
        again = await served.api.post_job(None, THUMB, key, source_url=first_url)
        other = await served.api.post_job(None, THUMB, key, source_url=first_url + "?v=2")
        assert len(served.tasks) == 1
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert assert_problem(other, 422)["type"] == "/problems/idempotency-key-reused"


async def test_an_upload_and_a_url_under_one_idempotency_key_differ(serve: Serve) -> None:
    key = {"Idempotency-Key": "import-2"}
    async with serve(source_url_allow_private=True) as served:
        first = await served.api.post_job(jpeg_bytes(), THUMB, key)
        other = await served.api.post_job(None, THUMB, key, source_url="http://127.0.0.1/x")
    assert first.status_code == 202
    assert assert_problem(other, 422)["type"] == "/problems/idempotency-key-reused"

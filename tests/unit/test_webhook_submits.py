"""What a submit with `callback_url` is answered, in process over an in-memory broker: private
targets are refused by default, https is required, and a service without WEBHOOK_SECRET takes
no callback; a refused submit keeps nothing."""

import pytest

from tests.client import assert_problem
from tests.images import jpeg_bytes
from tests.receiver import SECRET
from tests.support.served import Serve

THUMB = [{"name": "thumb", "width": 64}]

PRIVATE_TARGETS = [
    "https://127.0.0.1/hook",
    "https://127.8.9.10:8443/hook",
    "https://localhost/hook",  # a name that resolves to loopback
    "https://10.1.2.3/hook",
    "https://172.16.0.1/hook",
    "https://192.168.1.1/hook",
    "https://100.64.0.1/hook",
    "https://169.254.169.254/latest/meta-data/",  # cloud metadata
    "https://0.0.0.0/hook",
    "https://224.0.0.1/hook",
    "https://240.0.0.1/hook",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
    "https://[::ffff:169.254.169.254]/hook",
    "https://[fe80::1]/hook",
    "https://[fd00::1]/hook",
    "https://[2002:a00:1::]/hook",  # 6to4 around 10.0.0.1
    "https://[fec0::1]/hook",  # site-local, deprecated (Python's is_global takes it)
    "https://[64:ff9b::a00:1]/hook",  # NAT64 around 10.0.0.1
    "https://[::127.0.0.1]/hook",  # IPv4-compatible, deprecated
    "https://[fe80::1%25eth0]/hook",  # with a zone
    "https://[ff02::1]/hook",
    "https://[2001:db8::1]/hook",
    "https://198.18.0.1/hook",  # benchmarking
    "https://192.0.0.8/hook",
    "https://2130706433/hook",  # 127.0.0.1 as one decimal number
    "https://0x7f.1/hook",  # and in hex
    "https://127.1/hook",
]


@pytest.mark.parametrize("url", PRIVATE_TARGETS)
async def test_a_callback_to_a_private_address_is_refused_by_default(
    serve: Serve, url: str
) -> None:
    async with serve(webhook_secret=SECRET) as served:
        answer = await served.api.post_job(jpeg_bytes(), THUMB, callback_url=url)
        await served.assert_nothing_kept()
    body = assert_problem(answer, 422)
    assert body["type"] == "/problems/callback-target-refused"
    assert body["errors"][0]["loc"] == ["body", "callback_url"]
    assert "public addresses only" in body["detail"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://hooks.example.com/resized", "absolute https URL"),
        ("ftp://hooks.example.com/resized", "absolute https URL"),
        ("/resized", "absolute https URL"),
        ("https://user:secret@hooks.example.com/resized", "user name or password"),
        ("https://hooks example.com/resized", "no valid host"),
        ("https://hooks.example.com:70000/", "impossible port"),
        ("https://hooks.example.com/" + "x" * 2048, "longer than 2048"),
        ("https://no-such-host.invalid/resized", "does not resolve"),
    ],
)
async def test_a_callback_url_the_service_cannot_use_is_a_422_saying_why(
    serve: Serve, url: str, says: str
) -> None:
    async with serve(webhook_secret=SECRET) as served:
        answer = await served.api.post_job(jpeg_bytes(), THUMB, callback_url=url)
        await served.assert_nothing_kept()
    body = assert_problem(answer, 422)
    assert body["type"] == "/problems/invalid-callback-url"
    assert says in body["detail"]


async def test_a_callback_url_without_webhook_secret_is_refused(serve: Serve) -> None:
    async with serve() as served:
        answer = await served.api.post_job(
            jpeg_bytes(), THUMB, callback_url="https://hooks.example.com/resized"
        )
        await served.assert_nothing_kept()
    body = assert_problem(answer, 422)
    assert body["type"] == "/problems/webhooks-not-configured"
    assert "WEBHOOK_SECRET" in body["detail"]


async def test_with_private_targets_allowed_a_loopback_http_callback_is_taken(
    serve: Serve,
) -> None:
    url = "http://127.0.0.1:9/resized"
    async with serve(webhook_secret=SECRET, webhook_allow_private=True) as served:
        answer = await served.api.post_job(jpeg_bytes(), THUMB, callback_url=url)
        assert answer.status_code == 202, answer.text
        job = await served.api.job(answer.json()["id"])
    assert job["callback_url"] == url
    assert job["webhook"] is None  # nothing is due until the job ends

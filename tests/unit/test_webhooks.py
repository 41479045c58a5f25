"""The parts of completion webhooks that need no broker: signing, the documented verifier, the
retry schedule, the address guard, and one try against a loopback receiver or a fake resolver."""

import base64
import re
import time
import uuid
from collections.abc import Sequence
from ipaddress import ip_address
from pathlib import Path

import pytest

from producer_service.callbacks.sender import Delivered, Failed, WebhookSender
from producer_service.callbacks.signing import job_secret, owner_secret, signature, signed_headers
from producer_service.callbacks.targets import check_callback_url
from producer_service.db.store import JobStore
from producer_service.errors import CallbackTargetRefused, InvalidCallbackUrl
from producer_service.metrics import ApiMetrics
from producer_service.records import JobRecord
from producer_service.webhooks import TryLater, Webhooks, next_try
from shared.addresses import IPAddress
from shared.messages import EventKind, FailureInfo, JobEvent, WebhookDelivery
from shared.schemas import ErrorCode, WebhookState, WebhookStatus
from shared.settle import Ack
from shared.topology import Topology
from shared.variants import DEFAULT_VARIANTS
from tests.receiver import HANG, SECRET, Receiver, documented_verifier
from tests.support import free_port, make_settings

verify_webhook = documented_verifier()
BODY = b'{"id":"0b6f3c4e","status":"succeeded"}'


# ---- signing, and the verifier receivers are given ----


def test_signatures_match_the_standard_webhooks_reference_vector() -> None:
    # The reference libraries' vector: key = base64 after `whsec_`.
    key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    signed = signature(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signed == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_secret_keys_the_hmac_as_its_utf8_bytes() -> None:
    headers = signed_headers("sécret", "job:1", 1700000000, b"{}")
    assert headers["webhook-signature"] == signature("sécret".encode(), "job:1", 1700000000, b"{}")
    # printf 'job:1.1700000000.{}' | openssl dgst -sha256 -hmac 'sécret' -binary | base64
    assert headers["webhook-signature"] == "v1,DMheQyxiQlEVnAGuPhXJRRat3f/gv88foAzr/Oh+biM="


def test_a_keys_jobs_are_signed_with_its_own_secret_keyless_jobs_with_the_shared() -> None:
    alice, bob = owner_secret(SECRET, "a1" * 8), owner_secret(SECRET, "b2" * 8)
    assert len({alice, bob, SECRET, owner_secret("another-secret", "a1" * 8)}) == 4
    assert alice == owner_secret(SECRET, "a1" * 8)  # the same on every replica, every time
    assert re.fullmatch("[0-9a-f]{64}", alice)  # printable, used as its UTF-8 bytes
    assert job_secret(SECRET, "a1" * 8) == alice
    assert job_secret(SECRET, "") == SECRET  # a job made without keys


def test_the_documented_verifier_accepts_a_signed_delivery_and_refuses_forgeries() -> None:
    now = int(time.time())
    headers = signed_headers(SECRET, "job:1", now, BODY)
    assert verify_webhook(SECRET, headers, BODY)
    assert not verify_webhook(SECRET, headers, BODY.replace(b"succeeded", b"failed"))
    assert not verify_webhook("another-secret", headers, BODY)
    assert not verify_webhook(SECRET, {**headers, "webhook-id": "job:2"}, BODY)
    replayed = signed_headers(SECRET, "job:1", now - 600, BODY)
    assert not verify_webhook(SECRET, replayed, BODY)
    assert not verify_webhook(SECRET, {}, BODY)
    # While a secret is rotated a sender may list several signatures; one match is enough.
    rotated = {**headers, "webhook-signature": "v1,bm9wZQ== " + headers["webhook-signature"]}
    assert verify_webhook(SECRET, rotated, BODY)


# ---- the retry schedule ----


def test_the_default_schedule_retries_for_over_an_hour_in_six_delay_tiers(tmp_path: Path) -> None:
    topology = Topology.from_settings(make_settings(tmp_path))
    seconds = [ms // 1000 for ms in topology.webhook_delays_ms]
    assert seconds == [10, 40, 160, 640, 2560, 3600, 3600]
    assert len(topology.webhook_queues()) == 1 + 6
    # With every wait at its shortest (half the tier), the last try is still past the hour.
    assert sum(seconds) / 2 > 3600


def test_each_failed_try_but_the_last_is_tried_again_through_its_tier(tmp_path: Path) -> None:
    topology = Topology.from_settings(make_settings(tmp_path, webhook_max_attempts=4))
    failed = Failed("HTTP 500")
    first = WebhookDelivery(job_id=uuid.uuid4(), run=1)
    tries = [first, first.next_attempt(), first.next_attempt().next_attempt()]
    assert [next_try(d, failed, 4, topology) for d in tries] == [
        TryLater(tries[1], 10_000),
        TryLater(tries[2], 40_000),
        TryLater(tries[2].next_attempt(), 160_000),
    ]
    assert next_try(tries[2].next_attempt(), failed, 4, topology) is None
    assert next_try(first, Failed("refused", final=True), 4, topology) is None
    assert {d.webhook_id for d in tries} == {f"{first.job_id}:1"}


def test_the_webhook_tiers_expire_back_into_the_webhook_queue(tmp_path: Path) -> None:
    topology = Topology.from_settings(make_settings(tmp_path, queue_name="thumbs"))
    main, *tiers = topology.webhook_queues()
    assert main.name == "thumbs.webhooks"
    assert tiers[0].name == "thumbs.webhooks.delay.10000ms"
    assert {spec.arguments["x-dead-letter-routing-key"] for spec in tiers} == {main.name}
    assert [spec.arguments["x-message-ttl"] for spec in tiers] == sorted(
        set(topology.webhook_delays_ms)
    )


# ---- where webhooks may go ----


def resolving(*addresses: str) -> "FakeResolver":
    return FakeResolver([ip_address(address) for address in addresses])


class FakeResolver:
    """Answers every name with the same addresses, and notes what it was asked."""

    def __init__(self, addresses: Sequence[IPAddress]) -> None:
        self.addresses = list(addresses)
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.asked.append((host, port))
        return self.addresses


async def test_a_public_name_is_taken_and_one_private_address_among_its_answers_is_not() -> None:
    url = "https://hooks.example.com/resized?order=42"
    public = resolving("93.184.215.14")
    taken = await check_callback_url(url, secret_set=True, allow_private=False, resolve=public)
    assert taken == url
    assert public.asked == [("hooks.example.com", 443)]
    mixed = resolving("93.184.215.14", "10.0.0.7")
    refusal = r"10\.0\.0\.7, which is not globally reachable \(Private-Use"
    with pytest.raises(CallbackTargetRefused, match=refusal):
        await check_callback_url(url, secret_set=True, allow_private=False, resolve=mixed)
    allowed = await check_callback_url(url, secret_set=True, allow_private=True, resolve=mixed)
    assert allowed == url


async def test_an_internationalised_host_is_resolved_by_its_ascii_name() -> None:
    resolver = resolving("93.184.215.14")
    await check_callback_url(
        "https://bücher.example:8443/hook", secret_set=True, allow_private=False, resolve=resolver
    )
    assert resolver.asked == [("xn--bcher-kva.example", 8443)]
    with pytest.raises(InvalidCallbackUrl, match="absolute https URL"):
        await check_callback_url(
            "http://bücher.example/", secret_set=True, allow_private=False, resolve=resolver
        )


# ---- one try ----


async def test_a_try_reports_what_the_target_answered() -> None:
    sender = WebhookSender(timeout_seconds=0.5, allow_private=True, max_connections=4)
    headers = signed_headers(SECRET, "job:1", int(time.time()), BODY)
    try:
        async with Receiver.running([204, 410, 500, HANG]) as receiver:
            answers = [await sender.post(receiver.url, BODY, headers) for _ in range(4)]
        closed = await sender.post(f"http://127.0.0.1:{free_port()}/hook", BODY, headers)
    finally:
        await sender.close()
    assert answers == [
        Delivered(204),
        Failed("HTTP 410 Gone", final=True),
        Failed("HTTP 500"),
        Failed("no answer within 0.5 s"),
    ]
    assert [request.body for request in receiver.received] == [BODY] * 4
    assert isinstance(closed, Failed)
    assert closed.reason.startswith("could not connect")
    assert not closed.final


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "Loopback, 127.0.0.0/8"),
        ("::ffff:127.0.0.1", "IPv4-mapped Address of 127.0.0.1: Loopback, 127.0.0.0/8"),
        ("fec0::1", "Site-Local (deprecated), fec0::/10"),
        ("64:ff9b::a00:1", "IPv4-IPv6 Translat. of 10.0.0.1: Private-Use, 10.0.0.0/8"),
    ],
)
async def test_a_try_to_a_name_that_now_resolves_inside_connects_nowhere(
    address: str, why: str
) -> None:
    """The name was public at submit; at delivery it points inside (at this machine, where a
    receiver listens). The guard refuses it before connecting, and for good."""
    async with Receiver.running() as receiver:
        inside = resolving(address)
        sender = WebhookSender(1.0, allow_private=False, max_connections=1, resolve=inside)
        try:
            url = f"https://hooks.example.com:{receiver.port}/hooks/resized"
            answer = await sender.post(url, BODY, {})
        finally:
            await sender.close()
    assert answer == Failed(
        f"refused: hooks.example.com resolves to {ip_address(address)}, which is not globally "
        f"reachable ({why})",
        final=True,
    )
    assert inside.asked == [("hooks.example.com", receiver.port)]
    assert receiver.received == []


class RecordingQueue:
    """A broker that takes every try at once."""

    is_ready = True

    def __init__(self) -> None:
        self.published: list[WebhookDelivery] = []

    async def publish(self, delivery: WebhookDelivery) -> None:
        self.published.append(delivery)


async def test_a_webhook_whose_host_now_resolves_private_fails_at_once(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, webhook_secret=SECRET)
    settings.data_dir.mkdir()
    store = JobStore.from_settings(settings)
    await store.migrate()
    job_id = uuid.uuid4()
    await store.add(
        JobRecord.new(
            job_id, DEFAULT_VARIANTS, "originals/x", callback_url="https://hooks.example.com/x"
        )
    )
    error = FailureInfo(code=ErrorCode.UNDECODABLE_IMAGE, message="broken")
    ended = JobEvent(job_id=job_id, run=1, attempt=1, kind=EventKind.FAILED, error=error)
    applied = await store.apply_event(ended)
    assert applied
    assert applied.webhook_due  # the ending UPDATE says so: no read to find out
    queue = RecordingQueue()
    sender = WebhookSender(
        1.0, allow_private=False, max_connections=1, resolve=resolving("10.0.0.5")
    )
    webhooks = Webhooks(
        store,
        queue,
        sender,
        Topology.from_settings(settings),
        secret=SECRET,
        max_attempts=8,
        metrics=ApiMetrics(),
    )
    try:
        await webhooks.follow(applied)
        (first,) = queue.published
        outcome = await webhooks.attempt(first)
        again = await webhooks.attempt(first)  # a duplicate of the settled try
        record = await store.get(job_id)
    finally:
        await webhooks.close()
        await store.close()
    assert first == WebhookDelivery(job_id=job_id, run=1, attempt=1)
    assert outcome == again == Ack()
    assert record is not None
    assert record.webhook_queued
    assert record.webhook == WebhookState(
        status=WebhookStatus.FAILED,
        attempts=1,
        last_error="refused: hooks.example.com resolves to 10.0.0.5, which is not globally "
        "reachable (Private-Use, 10.0.0.0/8)",
    )

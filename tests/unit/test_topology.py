"""Broker names and arguments derive from QUEUE_NAME; retry tiers from the backoff settings."""

from pathlib import Path

from shared.backoff import tier_after
from shared.topology import Topology
from tests.support import make_settings


def test_every_broker_object_is_named_from_the_queue_name(tmp_path: Path) -> None:
    topology = Topology.from_settings(make_settings(tmp_path, queue_name="thumbs"))
    queues = [*topology.queues(), *topology.webhook_queues()]
    names = [spec.name for spec in queues] + topology.topic_exchanges()
    assert all(name == "thumbs" or name.startswith("thumbs.") for name in names)
    other = Topology.from_settings(make_settings(tmp_path, queue_name="avatars"))
    assert not set(names) & {spec.name for spec in [*other.queues(), *other.webhook_queues()]}


def test_the_work_queue_is_capped_and_dead_letters_to_its_dlq(tmp_path: Path) -> None:
    topology = Topology.from_settings(make_settings(tmp_path, max_queued_jobs=50))
    work = next(spec for spec in topology.queues() if spec.name == topology.work_queue)
    assert work.arguments == {
        "x-max-length": 50,
        "x-overflow": "reject-publish",
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": topology.dead_letter_queue,
    }


def test_each_delay_tier_expires_into_the_retry_queue(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, max_attempts=4, retry_base_delay_seconds=1, retry_max_delay_seconds=60
    )
    topology = Topology.from_settings(settings)
    assert topology.retry_delays_ms == (1000, 2000, 4000)
    assert [tier_after(topology.retry_delays_ms, n) for n in (1, 2, 3, 9)] == [
        1000,
        2000,
        4000,
        4000,
    ]
    tier = next(spec for spec in topology.queues() if spec.name == topology.delay_queue(2000))
    assert tier.arguments == {
        "x-message-ttl": 2000,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": topology.retry_queue,
    }


def test_quorum_makes_every_durable_queue_a_quorum_queue(tmp_path: Path) -> None:
    topology = Topology.from_settings(make_settings(tmp_path, queue_type="quorum", max_attempts=4))
    typed = {
        spec.name: (spec.arguments.get("x-queue-type"), spec.arguments.get("x-delivery-limit"))
        for spec in [*topology.queues(), *topology.webhook_queues()]
    }
    assert typed.pop(topology.work_queue) == ("quorum", 4)
    assert typed.pop(topology.retry_queue) == ("quorum", 4)
    for lane in topology.bulk_queues:
        assert typed.pop(lane) == ("quorum", 4)
    # The dead letters, the delay tiers, the events queue, the webhook queue and its tiers:
    # none of them may live on one node of a cluster.
    assert set(typed.values()) == {("quorum", None)}


def test_a_quorum_delay_tier_dead_letters_at_least_once(tmp_path: Path) -> None:
    topology = Topology.from_settings(make_settings(tmp_path, queue_type="quorum"))
    tiers = [
        spec
        for spec in [*topology.queues(), *topology.webhook_queues()]
        if "x-message-ttl" in spec.arguments
    ]
    assert len(tiers) > 2
    for tier in tiers:
        assert tier.arguments["x-dead-letter-strategy"] == "at-least-once"
        assert tier.arguments["x-overflow"] == "reject-publish"  # what at-least-once needs
        assert "x-max-length" not in tier.arguments  # so nothing is ever rejected

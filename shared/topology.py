"""Broker object names and arguments, as plain data, so both services declare the same topology.

Every name derives from `QUEUE_NAME`, so two deployments with different names never meet:

    producer ──task──▶ {q}                 work queue, capped at MAX_QUEUED_JOBS (reject-publish):
                                           the interactive lane
                       {q}.bulk.{n}        the bulk lanes, n in 0..BULK_LANES-1, each capped
                                           like {q}; a job's lane is fixed by its owner
                       {q}.retry           re-runs: redeliveries, drained jobs, expired backoffs
                       {q}.delay.{ms}ms    backoff tiers; a message waits out its TTL, then is
                                           dead-lettered into {q}.retry
    worker ──reject──▶ {q}.dead            failed deliveries, kept for people to inspect
    worker ──event───▶ {q}.events (topic) ─▶ {q}.events.store   status updates the API applies
    API ──notice────▶ {q}.changes (topic) ─▶ one exclusive queue per API replica: "job X
                                           changed in the store", for its live event streams
    API ──cancel────▶ {q}.cancels (fanout) ─▶ one exclusive queue per worker: "stop run R of
                                           job X", so whichever worker holds X stops it at once
    API ──webhook───▶ {q}.webhooks         completion webhooks due, consumed by every API replica
                      {q}.webhooks.delay.{ms}ms   their backoff tiers, dead-lettered back into
                                           {q}.webhooks

Every durable queue is of QUEUE_TYPE (classic or quorum): on a cluster, quorum queues are
replicated, so the service keeps every queue it relies on when any one node goes (a classic
queue lives on one node; while that node is down it cannot even be declared, and a service
reconnecting to another node would fail its restore for ever). `{q}` and `{q}.retry` also
carry the broker's delivery limit as a backstop. A quorum delay tier dead-letters at least
once (`x-dead-letter-strategy: at-least-once`, which needs `x-overflow: reject-publish`; a
tier has no length limit, so nothing is ever rejected): an expiring tier message is the job's
next attempt, and the default, at most once, may drop it when a node goes at that moment.
`{q}` and `{q}.retry` keep the default: what they dead-letter into `{q}.dead` is a job already
failed in the store, a copy kept for people to inspect.

The exceptions are each API replica's `{q}.changes` queue and each worker's `{q}.cancels`
queue: they are exclusive (gone with its
connection, so a quorum queue, always durable and shared, cannot be one) and re-declared by
the replica on whichever node it reconnects to.

Priorities are separate queues, not `x-max-priority`: quorum queues (RabbitMQ 3.10 to 3.13)
have no message priorities, and a single priority queue would still serve one key's bulk
backlog before another's. A worker consumes every lane with a small prefetch each and picks
what starts next (`worker_service/lanes.py`): interactive first, then the bulk lanes in turn.

Re-runs have their own uncapped queue because a full work queue would silently drop a message
dead-lettered into it; only new submissions meet the cap, and they get a 503 instead.
Only plain AMQP 0-9-1 features are used: no plugins, no delayed-message exchange.

A delay tier's TTL caps the wait of every message in it; a message may carry a shorter
expiration of its own (`jittered`), but the broker only expires the message at the head of a
queue, so a message waits between its own expiration and the tier's TTL, never longer.

`shared.declare` puts this on the broker: both services declare it on connect. The webhook
queues are the API's alone (`webhook_queues`, declared by its webhook publisher): a worker
never reads the webhook settings, so it can never fight the API over their tiers.
"""

from dataclasses import dataclass, field
from typing import Any

from shared.backoff import WEBHOOK_BACKOFF_FACTOR, backoff_tiers, tier_after
from shared.schemas import Priority
from shared.settings import Settings

DEFAULT_EXCHANGE = ""
# Bulk queues: up to this many API keys never share one (a key's lane is its position in
# API_KEYS, modulo this); beyond it keys share lanes.
BULK_LANES = 16


@dataclass(frozen=True)
class QueueSpec:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BindingSpec:
    queue: str
    exchange: str
    routing_key: str


@dataclass(frozen=True)
class Topology:
    queue_name: str
    max_queued_jobs: int
    retry_delays_ms: tuple[int, ...] = ()
    queue_type: str = "classic"
    # On quorum queues, the broker's own backstop: a delivery handed out this many times
    # without being settled is dead-lettered (workers forward a redelivered task at once, so
    # only one that kills every worker before that reaches it).
    delivery_limit: int = 5
    webhook_delays_ms: tuple[int, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> "Topology":
        delays = backoff_tiers(
            settings.max_attempts,
            settings.retry_base_delay_seconds,
            settings.retry_max_delay_seconds,
        )
        webhook_delays = backoff_tiers(
            settings.webhook_max_attempts,
            settings.webhook_retry_base_seconds,
            settings.webhook_retry_max_delay_seconds,
            WEBHOOK_BACKOFF_FACTOR,
        )
        return cls(
            settings.queue_name,
            settings.max_queued_jobs,
            delays,
            settings.queue_type,
            settings.max_attempts,
            webhook_delays,
        )

    def webhook_retry_delay_ms(self, failed_attempts: int) -> int:
        """The tier a webhook delivery waits in after `failed_attempts` failed tries."""
        return tier_after(self.webhook_delays_ms, failed_attempts)

    @property
    def work_queue(self) -> str:
        return self.queue_name

    def bulk_queue(self, lane: int) -> str:
        return f"{self.queue_name}.bulk.{lane % BULK_LANES}"

    @property
    def bulk_queues(self) -> list[str]:
        return [self.bulk_queue(lane) for lane in range(BULK_LANES)]

    def task_queue(self, priority: Priority, lane: int) -> str:
        """Where a new task of `priority` goes (`lane`: its owner's bulk lane)."""
        return self.work_queue if priority is Priority.INTERACTIVE else self.bulk_queue(lane)

    @property
    def retry_queue(self) -> str:
        return f"{self.queue_name}.retry"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.queue_name}.dead"

    @property
    def events_exchange(self) -> str:
        return f"{self.queue_name}.events"

    @property
    def events_queue(self) -> str:
        return f"{self.queue_name}.events.store"

    @property
    def changes_exchange(self) -> str:
        # Its per-replica queue is exclusive, so classic whatever QUEUE_TYPE (module docstring).
        return f"{self.queue_name}.changes"

    @property
    def cancels_exchange(self) -> str:
        # Fanout: every worker hears every cancel. Its per-worker queue is exclusive, so
        # classic whatever QUEUE_TYPE (module docstring); the exchange itself is durable
        # cluster metadata, on every node.
        return f"{self.queue_name}.cancels"

    @property
    def readiness_probe_key(self) -> str:
        """A routing key no queue is bound to: the API's readiness probe is dropped on it."""
        return f"{self.queue_name}.readiness-probe"

    def delay_queue(self, delay_ms: int) -> str:
        return f"{self.queue_name}.delay.{delay_ms}ms"

    @property
    def webhook_queue(self) -> str:
        return f"{self.queue_name}.webhooks"

    def webhook_delay_queue(self, delay_ms: int) -> str:
        return f"{self.webhook_queue}.delay.{delay_ms}ms"

    def webhook_queues(self) -> list[QueueSpec]:
        """The API's webhook queue and its backoff tiers, each expiring back into it."""
        return [
            QueueSpec(self.webhook_queue, self._typed(limited=False)),
            *(
                QueueSpec(self.webhook_delay_queue(delay), self._tier(delay, self.webhook_queue))
                for delay in sorted(set(self.webhook_delays_ms))
            ),
        ]

    def queues(self) -> list[QueueSpec]:
        """Every durable queue, in an order where dead-letter targets come first."""
        to_dead = {**self._dead_letter_to(self.dead_letter_queue), **self._typed(limited=True)}
        capped = {**to_dead, "x-max-length": self.max_queued_jobs, "x-overflow": "reject-publish"}
        return [
            QueueSpec(self.dead_letter_queue, self._typed(limited=False)),
            QueueSpec(self.work_queue, capped),
            *(QueueSpec(name, capped) for name in self.bulk_queues),
            QueueSpec(self.retry_queue, to_dead),
            *(
                QueueSpec(self.delay_queue(delay), self._tier(delay, self.retry_queue))
                for delay in sorted(set(self.retry_delays_ms))
            ),
            QueueSpec(self.events_queue, self._typed(limited=False)),
        ]

    def topic_exchanges(self) -> list[str]:
        return [self.events_exchange, self.changes_exchange]

    def fanout_exchanges(self) -> list[str]:
        return [self.cancels_exchange]

    def bindings(self) -> list[BindingSpec]:
        return [BindingSpec(self.events_queue, self.events_exchange, "#")]

    def _typed(self, *, limited: bool) -> dict[str, Any]:
        """The arguments of QUEUE_TYPE for a queue (`limited`: with the delivery limit)."""
        if self.queue_type != "quorum":
            return {}
        limit = {"x-delivery-limit": self.delivery_limit} if limited else {}
        return {"x-queue-type": "quorum", **limit}

    def _tier(self, delay_ms: int, target: str) -> dict[str, Any]:
        """A backoff tier: its messages wait `delay_ms`, then are dead-lettered into `target`."""
        tier = {"x-message-ttl": delay_ms, **self._dead_letter_to(target)}
        if self.queue_type != "quorum":
            return tier
        return {
            **tier,
            **self._typed(limited=False),
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }

    @staticmethod
    def _dead_letter_to(queue: str) -> dict[str, Any]:
        return {"x-dead-letter-exchange": DEFAULT_EXCHANGE, "x-dead-letter-routing-key": queue}

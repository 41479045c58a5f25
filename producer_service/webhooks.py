"""Completion webhooks: when one falls due, and what one try of it does.

    worker ── final event ──▶ store: the UPDATE that ends the job sets webhook `pending`
                              (first final event wins, so one replica decides it, once)
    that replica ──▶ {q}.webhooks  the first try, persistent and confirmed; then `queued`
    webhook relay ─▶ {q}.webhooks  a `pending` webhook never `queued` after a minute (its API
                                   died between the UPDATE and the confirm)
    any replica ◀── {q}.webhooks   one try: still pending? POST, signed with the secret of
                                   the job's key (`signing`); record the outcome
        failed, more tries left ──▶ {q}.webhooks.delay.{ms}ms ──(TTL)──▶ {q}.webhooks
        delivered, or out of tries or refused ──▶ recorded on the job; the message is acked

Delivery is at least once: a duplicate message (the relay racing a slow confirm, a replica
dying mid-POST) is dropped when the job's webhook is no longer pending by the time it runs,
but two copies running at the same moment may both POST. Receivers dedupe on `webhook-id`,
as Standard Webhooks asks. The body is the job as `GET` shows it, without its own `webhook`
field, rebuilt from the ended job at each try: the same bytes under one `webhook-id`.
"""

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol
from uuid import UUID

from producer_service.callbacks.sender import Answer, Delivered, Failed, WebhookSender
from producer_service.callbacks.signing import job_secret, signed_headers
from producer_service.db.store import JobChanged, JobStore
from producer_service.errors import Unavailable
from producer_service.metrics import ApiMetrics
from producer_service.records import JobRecord
from producer_service.views import job_view
from shared.backoff import jittered
from shared.log_context import about_job
from shared.messages import WebhookDelivery, utc_now
from shared.schemas import WebhookStatus
from shared.settle import Ack, Forward
from shared.topology import Topology
from shared.tracing import failed

logger = logging.getLogger(__name__)


class WebhookQueue(Protocol):
    """Where first tries go: the broker (`broker.webhooks.WebhookPublisher`)."""

    @property
    def is_ready(self) -> bool: ...

    async def publish(self, delivery: WebhookDelivery) -> None:
        """Return once the broker has the try; else raise a `Unavailable` error."""


@dataclass(frozen=True)
class TryLater:
    """The try after a failed one, and the backoff tier it waits in."""

    delivery: WebhookDelivery
    delay_ms: int


# A try ends as `Ack` (delivered, failed for good, or no longer due) or as a `Forward` of the
# next try to its delay tier.
TryOutcome = Ack | Forward[WebhookDelivery]


def next_try(
    delivery: WebhookDelivery, answer: Failed, max_attempts: int, topology: Topology
) -> TryLater | None:
    """The try after a failed one, through the delay tier of its backoff; None when there is
    none (out of tries, or trying again cannot help)."""
    if answer.final or delivery.attempt >= max_attempts:
        return None
    return TryLater(delivery.next_attempt(), topology.webhook_retry_delay_ms(delivery.attempt))


def webhook_body(record: JobRecord) -> bytes:
    return job_view(record).model_dump_json(exclude={"webhook"}).encode()


def _still_due(record: JobRecord | None, delivery: WebhookDelivery) -> bool:
    return (
        record is not None
        and record.run == delivery.run
        and record.callback_url is not None
        and record.webhook is not None
        and record.webhook.status is WebhookStatus.PENDING
    )


class Webhooks:
    def __init__(
        self,
        store: JobStore,
        queue: WebhookQueue,
        sender: WebhookSender,
        topology: Topology,
        *,
        secret: str | None,
        max_attempts: int,
        metrics: ApiMetrics,
    ) -> None:
        self._store = store
        self._queue = queue
        self._sender = sender
        self._topology = topology
        self._secret = secret
        self._max_attempts = max_attempts
        self._metrics = metrics

    async def close(self) -> None:
        await self._sender.close()

    @property
    def queue_ready(self) -> bool:
        return self._queue.is_ready

    async def follow(self, changed: JobChanged) -> None:
        """Send the first try of the webhook a change made due (the end of a job with a
        callback_url). A broker or store that fails here is logged: the webhook relay sends it
        later."""
        if not changed.webhook_due:
            return
        try:
            await self._queue_first(changed.job_id, changed.run)
        except Unavailable as exc:
            logger.warning("webhook due but not queued (%r); the relay will queue it", exc)

    async def publish_stranded(self, older_than: timedelta) -> int:
        """Queue the webhooks an API left due and unqueued when it died; how many."""
        stranded = await self._store.stranded_webhooks(utc_now() - older_than)
        for record in stranded:
            with about_job(record.id):
                await self._queue_first(record.id, record.run)
                logger.warning("its webhook was due and never queued; queued it now")
        return len(stranded)

    async def _queue_first(self, job_id: UUID, run: int) -> None:
        await self._queue.publish(WebhookDelivery(job_id=job_id, run=run))
        await self._store.mark_webhook_queued(job_id, run)

    async def attempt(self, delivery: WebhookDelivery) -> TryOutcome:
        """One try: POST the ended job, signed, if its webhook is still pending, and record
        what came of it. `StoreUnavailable` leaves the message to be tried again."""
        record = await self._store.get(delivery.job_id)
        if record is None or not _still_due(record, delivery):
            logger.info("webhook try %d dropped: no longer due", delivery.attempt)
            self._metrics.count_webhook("dropped")
            return Ack()
        assert record.callback_url is not None  # _still_due
        answer = await self._post(record, delivery)
        match answer:
            case Delivered(status):
                await self._record(delivery, WebhookStatus.DELIVERED, None)
                logger.info("webhook delivered on try %d (HTTP %d)", delivery.attempt, status)
                self._metrics.count_webhook("delivered")
                return Ack()
            case Failed():
                return await self._after_failure(delivery, answer)

    async def _post(self, record: JobRecord, delivery: WebhookDelivery) -> Answer:
        if self._secret is None:
            return Failed("WEBHOOK_SECRET is not set: nothing to sign with", final=True)
        assert record.callback_url is not None
        body = webhook_body(record)
        secret = job_secret(self._secret, record.owner)
        headers = signed_headers(secret, delivery.webhook_id, int(time.time()), body)
        return await self._sender.post(record.callback_url, body, headers)

    async def _after_failure(self, delivery: WebhookDelivery, answer: Failed) -> TryOutcome:
        reason = answer.reason
        failed(f"webhook try {delivery.attempt} failed: {reason}")
        later = next_try(delivery, answer, self._max_attempts, self._topology)
        if later is None:
            await self._record(delivery, WebhookStatus.FAILED, reason)
            logger.warning("webhook failed for good on try %d: %s", delivery.attempt, reason)
            self._metrics.count_webhook("failed")
            return Ack()
        if not await self._record(delivery, WebhookStatus.PENDING, reason):
            return Ack()  # settled meanwhile by another copy, or the job is gone
        logger.info(
            "webhook try %d failed (%s); next in up to %d ms",
            delivery.attempt,
            reason,
            later.delay_ms,
        )
        self._metrics.count_webhook("retried")
        delay_queue = self._topology.webhook_delay_queue(later.delay_ms)
        return Forward(later.delivery, delay_queue, jittered(later.delay_ms))

    async def _record(
        self, delivery: WebhookDelivery, status: WebhookStatus, error: str | None
    ) -> bool:
        return await self._store.record_webhook_try(
            delivery.job_id, delivery.run, delivery.attempt, status, error
        )

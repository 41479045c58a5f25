"""The outbox relays: a job whose API died between writing its row and the broker's confirm is
published later instead of staying `queued` forever; so is a webhook that fell due when its job
ended, on an API that died before the broker confirmed its first try.

A submit writes the row with `published = false` and sets it once the broker confirms. Rows still
unpublished after STRANDED_AFTER (far beyond any live submit, which gives up after
PUBLISH_TIMEOUT_SECONDS) belong to a submit that died; this relay publishes them, at start-up and
then every RELAY_INTERVAL_SECONDS. A task published twice is harmless: workers skip finished jobs.
Webhooks follow the same rule with `webhook_queued`, counted from when the job ended; a try
queued twice is dropped if the webhook was settled by the time it runs (webhooks/deliveries.py).
"""

from datetime import timedelta

from producer_service.background.periodic import Periodic
from producer_service.broker.publisher import Publisher
from producer_service.jobs import Jobs
from producer_service.webhooks import Webhooks

STRANDED_AFTER = timedelta(seconds=60)
RELAY_INTERVAL_SECONDS = 10.0


def outbox_relay(jobs: Jobs, publisher: Publisher) -> Periodic:
    return Periodic(
        "outbox relay",
        RELAY_INTERVAL_SECONDS,
        lambda: jobs.publish_stranded(STRANDED_AFTER),
        ready=lambda: publisher.is_ready,
    )


def webhook_relay(webhooks: Webhooks) -> Periodic:
    return Periodic(
        "webhook relay",
        RELAY_INTERVAL_SECONDS,
        lambda: webhooks.publish_stranded(STRANDED_AFTER),
        ready=lambda: webhooks.queue_ready,
    )

"""The outbox relay: a job whose API died between writing its row and the broker's confirm is
published later instead of staying `queued` forever.

A submit writes the row with `published = false` and sets it once the broker confirms. Rows still
unpublished after STRANDED_AFTER (far beyond any live submit, which gives up after
PUBLISH_TIMEOUT_SECONDS) belong to a submit that died; this relay publishes them, at start-up and
then every RELAY_INTERVAL_SECONDS. A task published twice is harmless: workers skip finished jobs.
"""

from datetime import timedelta

from producer_service.background.periodic import Periodic
from producer_service.broker.publisher import Publisher
from producer_service.jobs import JobService

STRANDED_AFTER = timedelta(seconds=60)
RELAY_INTERVAL_SECONDS = 10.0


def outbox_relay(jobs: JobService, publisher: Publisher) -> Periodic:
    return Periodic(
        "outbox relay",
        RELAY_INTERVAL_SECONDS,
        lambda: jobs.publish_stranded(STRANDED_AFTER),
        ready=lambda: publisher.is_ready,
    )

"""Retention: with JOB_RETENTION_HOURS, jobs that finished longer ago than that are deleted
with their original and outputs, a batch at a time, by every API replica (a job goes once: the
row's conditional DELETE decides which replica removes it)."""

from datetime import timedelta

from producer_service.background.periodic import Periodic
from producer_service.jobs import Jobs

BATCH = 100


def sweep_interval_seconds(older_than: timedelta) -> float:
    """A tenth of the retention, between 1 s and a minute: a job outlives its retention by at
    most that, and a sweep that finds nothing costs one index lookup."""
    return min(60.0, max(1.0, older_than.total_seconds() / 10))


def retention_sweep(jobs: Jobs, hours: float) -> Periodic:
    older_than = timedelta(hours=hours)
    return Periodic(
        "retention sweep",
        sweep_interval_seconds(older_than),
        lambda: jobs.expire(older_than, BATCH),
    )

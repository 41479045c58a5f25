"""The job store on SQLite and on PostgreSQL: records, idempotency keys and event ordering."""

import asyncio
import dataclasses
import random
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from producer_service.callers import Scope
from producer_service.db.database import open_database
from producer_service.db.engine import PoolLimits
from producer_service.db.store import DuplicateIdempotencyKey, JobStore, expired_jobs
from producer_service.errors import TooManyActiveJobs
from producer_service.records import JobRecord
from shared.messages import EventKind, FailureInfo, JobEvent, RenderedOutput, utc_now
from shared.schemas import ErrorCode, JobStatus, Placeholder, SourceImage, WebhookStatus
from shared.variants import DEFAULT_VARIANTS, OutputFormat, SourceFormat
from tests.support import TEST_POSTGRES_URL, EmptyDatabase


@pytest.fixture
async def store(empty_database: EmptyDatabase) -> AsyncIterator[JobStore]:
    job_store = JobStore(empty_database.open())
    await job_store.migrate()
    yield job_store
    await job_store.close()


def new_record(
    key: str | None = None, owner: str = "", token_id: str = "", callback_url: str | None = None
) -> JobRecord:
    job_id = uuid.uuid4()
    return JobRecord.new(
        job_id,
        DEFAULT_VARIANTS,
        f"originals/{job_id}",
        key,
        owner=owner,
        token_id=token_id,
        callback_url=callback_url,
    )


SOURCE = SourceImage(format=SourceFormat.HEIC, width=4032, height=3024)
PLACEHOLDER = Placeholder(thumbhash="VAgKHYK9moifhoaFmHZ2mHJAAydU", dominant_color="#4f6b2a")


def event(record: JobRecord, kind: EventKind, attempt: int = 1, run: int = 1) -> JobEvent:
    outputs = []
    source = None if kind in (EventKind.RETRYING, EventKind.FAILED) else SOURCE
    placeholder = PLACEHOLDER if kind is EventKind.SUCCEEDED else None
    if kind is EventKind.SUCCEEDED:
        outputs = [
            RenderedOutput(
                name="thumb",
                format=OutputFormat.WEBP,
                width=320,
                height=213,
                size_bytes=99,
                key=f"outputs/{record.id}/thumb.webp",
            )
        ]
    error = None
    if kind is EventKind.FAILED:
        error = FailureInfo(code=ErrorCode.UNDECODABLE_IMAGE, message="bad bytes")
    return JobEvent(
        job_id=record.id,
        run=run,
        attempt=attempt,
        kind=kind,
        outputs=outputs,
        source=source,
        placeholder=placeholder,
        error=error,
    )


async def test_a_job_round_trips(store: JobStore) -> None:
    record = new_record("key-1")
    await store.add(record)
    loaded = await store.get(record.id)
    assert loaded == record
    assert loaded.created_at.tzinfo is not None
    assert await store.get(uuid.uuid4()) is None


async def test_an_idempotency_key_names_one_job_of_its_owner(store: JobStore) -> None:
    first = new_record("same-key")
    await store.add(first)
    with pytest.raises(DuplicateIdempotencyKey):
        await store.add(new_record("same-key"))
    found = await store.get_by_idempotency_key("", "", "same-key")
    assert found is not None
    assert found.id == first.id
    await store.add(new_record(None))
    await store.add(new_record(None))
    # Another API key's owner may use the same idempotency key for a job of its own.
    other = new_record("same-key", owner="0123456789abcdef")
    await store.add(other)
    mine = await store.get_by_idempotency_key("0123456789abcdef", "", "same-key")
    assert mine is not None
    assert mine.id == other.id


async def test_an_owners_job_is_only_found_for_that_owner(store: JobStore) -> None:
    record = new_record(owner="0123456789abcdef")
    await store.add(record)
    await store.add(new_record(owner="fedcba9876543210"))
    assert await store.get(record.id, Scope("fedcba9876543210")) is None
    assert await store.get(record.id, Scope("0123456789abcdef")) is not None
    assert await store.get(record.id) is not None  # no owner given: any owner's
    listed = await store.list_page(Scope("0123456789abcdef"), None, None, 10)
    assert [job.id for job in listed] == [record.id]
    assert len(await store.list_page(None, None, None, 10)) == 2


async def test_a_browser_tokens_job_is_its_own_and_its_keys(store: JobStore) -> None:
    owner = "0123456789abcdef"
    by_key = new_record("same-key", owner=owner)
    by_token = new_record("same-key", owner=owner, token_id="token-a")
    # Each token's idempotency keys are its own, beside its key's.
    for record in (by_key, by_token, new_record("same-key", owner=owner, token_id="token-b")):
        await store.add(record)
    with pytest.raises(DuplicateIdempotencyKey):
        await store.add(new_record("same-key", owner=owner, token_id="token-a"))
    token_a, token_b = Scope(owner, "token-a"), Scope(owner, "token-b")
    assert await store.get(by_token.id, token_a) == by_token
    assert await store.get(by_token.id, token_b) is None
    assert await store.get(by_key.id, token_a) is None
    assert await store.get(by_token.id, Scope(owner)) == by_token
    assert [job.id for job in await store.list_page(token_a, None, None, 10)] == [by_token.id]
    assert len(await store.list_page(Scope(owner), None, None, 10)) == 3
    found = await store.get_by_idempotency_key(owner, "token-a", "same-key")
    assert found == by_token


async def test_a_job_moves_forward_through_processing_to_succeeded(store: JobStore) -> None:
    record = new_record()
    await store.add(record)
    assert await store.apply_event(event(record, EventKind.PROCESSING))
    processing = await store.get(record.id)
    assert processing is not None
    assert (processing.status, processing.attempts) == (JobStatus.PROCESSING, 1)
    assert (processing.source, processing.placeholder) == (SOURCE, None)
    assert await store.apply_event(event(record, EventKind.SUCCEEDED))
    done = await store.get(record.id)
    assert done is not None
    assert done.status is JobStatus.SUCCEEDED
    assert [o.name for o in done.outputs] == ["thumb"]
    assert (done.source, done.placeholder) == (SOURCE, PLACEHOLDER)
    assert done.updated_at >= processing.updated_at


async def test_a_late_or_repeated_event_never_moves_a_job_backwards(store: JobStore) -> None:
    record = new_record()
    await store.add(record)
    await store.apply_event(event(record, EventKind.SUCCEEDED))
    assert not await store.apply_event(event(record, EventKind.PROCESSING))
    assert not await store.apply_event(event(record, EventKind.PROCESSING, attempt=2))
    assert not await store.apply_event(event(record, EventKind.FAILED))
    assert not await store.apply_event(event(record, EventKind.SUCCEEDED))
    final = await store.get(record.id)
    assert final is not None
    assert final.status is JobStatus.SUCCEEDED


async def test_attempts_follow_retries_and_ignore_stale_attempts(store: JobStore) -> None:
    record = new_record()
    await store.add(record)
    await store.apply_event(event(record, EventKind.PROCESSING, attempt=1))
    assert await store.apply_event(event(record, EventKind.RETRYING, attempt=1))
    waiting = await store.get(record.id)
    assert waiting is not None
    assert (waiting.status, waiting.attempts) == (JobStatus.QUEUED, 1)
    assert not await store.apply_event(event(record, EventKind.PROCESSING, attempt=1))
    assert await store.apply_event(event(record, EventKind.PROCESSING, attempt=2))
    assert await store.apply_event(event(record, EventKind.FAILED, attempt=2))
    failed = await store.get(record.id)
    assert failed is not None
    assert (failed.status, failed.attempts) == (JobStatus.FAILED, 2)
    assert failed.error == FailureInfo(code=ErrorCode.UNDECODABLE_IMAGE, message="bad bytes")


async def test_events_of_another_run_are_ignored(store: JobStore) -> None:
    record = new_record()
    await store.add(record)
    assert not await store.apply_event(event(record, EventKind.SUCCEEDED, run=2))
    assert not await store.apply_event(event(new_record(), EventKind.PROCESSING))


async def test_events_applied_at_once_in_any_order_end_in_the_newest_state(
    store: JobStore,
) -> None:
    records = [new_record() for _ in range(10)]
    for record in records:
        await store.add(record)
    events = [
        event(record, kind, attempt)
        for record in records
        for kind, attempt in [
            (EventKind.PROCESSING, 1),
            (EventKind.RETRYING, 1),
            (EventKind.PROCESSING, 2),
            (EventKind.SUCCEEDED, 2),
        ]
    ]
    random.Random(7).shuffle(events)
    await asyncio.gather(*(store.apply_event(e) for e in events))
    for record in records:
        final = await store.get(record.id)
        assert final is not None
        assert (final.status, final.attempts) == (JobStatus.SUCCEEDED, 2)


async def test_publishing_marks_and_deleting_removes(store: JobStore) -> None:
    record = new_record()
    await store.add(record)
    await store.mark_published(record.id)
    published = await store.get(record.id)
    assert published is not None
    assert published.published
    await store.delete(record.id)
    assert await store.get(record.id) is None


async def test_only_jobs_unconfirmed_since_before_the_cutoff_count_as_stranded(
    store: JobStore,
) -> None:
    an_hour_ago = utc_now() - timedelta(hours=1)
    stranded = dataclasses.replace(new_record(), created_at=an_hour_ago, updated_at=an_hour_ago)
    # Created long ago but just requeued by a manual retry whose publish is still in flight.
    retrying = dataclasses.replace(new_record(), created_at=an_hour_ago)
    confirmed = dataclasses.replace(
        new_record(), created_at=an_hour_ago, updated_at=an_hour_ago, published=True
    )
    for record in (stranded, retrying, confirmed):
        await store.add(record)
    found = await store.unpublished(utc_now() - timedelta(minutes=1))
    assert [record.id for record in found] == [stranded.id]


async def test_a_burst_of_concurrent_writes_all_land(store: JobStore) -> None:
    """As many submitters and the events of their jobs would write at once: every write lands,
    none is refused as locked (on SQLite they queue in this process, one after another)."""
    records = [new_record() for _ in range(64)]
    await asyncio.gather(*(store.add(record) for record in records))
    await asyncio.gather(
        *(store.apply_event(event(r, EventKind.PROCESSING)) for r in records),
        *(store.mark_published(r.id) for r in records),
    )
    stored = [await store.get(record.id) for record in records]
    assert all(r is not None and r.status is JobStatus.PROCESSING and r.published for r in stored)


async def test_an_owners_active_jobs_are_capped_even_when_submitted_at_once(
    store: JobStore,
) -> None:
    """Counted and inserted atomically: of 8 concurrent adds under a limit of 3, exactly 3 land;
    a finished job frees its place, and another owner is not held back."""
    owner, other = "0123456789abcdef", "fedcba9876543210"
    records = [new_record(owner=owner) for _ in range(8)]
    results = await asyncio.gather(
        *(store.add(record, max_active=3) for record in records), return_exceptions=True
    )
    assert sum(result is None for result in results) == 3
    assert all(isinstance(r, TooManyActiveJobs) for r in results if r is not None)
    await store.add(new_record(owner=other), max_active=3)
    landed = [r for r, result in zip(records, results, strict=True) if result is None]
    await store.apply_event(event(landed[0], EventKind.PROCESSING))
    with pytest.raises(TooManyActiveJobs):
        await store.add(new_record(owner=owner), max_active=3)
    await store.apply_event(event(landed[0], EventKind.SUCCEEDED))
    await store.add(new_record(owner=owner), max_active=3)


async def test_a_burst_on_postgresql_uses_at_most_the_pool_s_connections() -> None:
    # DATABASE_POOL_SIZE + DATABASE_MAX_OVERFLOW bound what one API process holds open, so
    # replicas x processes x pool can be sized under the server's max_connections.
    name = f"pool-{uuid.uuid4().hex[:8]}"
    database = open_database(
        TEST_POSTGRES_URL,
        connect_args={"server_settings": {"application_name": name}},
        pool=PoolLimits(size=2, overflow=1),
    )
    count = sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name")

    def connections_while_busy(session: Session) -> int:
        session.execute(sa.text("SELECT pg_sleep(0.05)"))
        return int(session.execute(count, {"name": name}).scalar_one())

    try:
        seen = await asyncio.gather(
            *(database.run(connections_while_busy, write=False) for _ in range(12))
        )
    finally:
        await database.dispose()
    assert max(seen) == 3  # the whole pool was used, and nothing beyond it


async def test_a_duplicate_idempotency_key_is_reported_before_the_cap(store: JobStore) -> None:
    """At once, 8 first tries of one key under a cap of 1: one job, and every other try is told
    of it (so it follows that job), none that the key is at its cap."""
    records = [new_record("same-key") for _ in range(8)]
    results = await asyncio.gather(
        *(store.add(record, max_active=1) for record in records), return_exceptions=True
    )
    assert sum(result is None for result in results) == 1
    assert all(isinstance(r, DuplicateIdempotencyKey) for r in results if r is not None)
    with pytest.raises(TooManyActiveJobs):
        await store.add(new_record("other-key"), max_active=1)


async def test_retries_count_against_the_cap_even_when_made_at_once(store: JobStore) -> None:
    """Of 8 failed jobs retried at once under a limit of 2, exactly 2 are queued again; a job
    that is not failed is refused as that, not for the cap."""
    owner = "0123456789abcdef"
    records = [new_record(owner=owner) for _ in range(8)]
    for record in records:
        await store.add(record)
        assert await store.apply_event(event(record, EventKind.FAILED))
    failed = [await store.get(record.id) for record in records]
    results = await asyncio.gather(
        *(store.restart(r, max_active=2) for r in failed if r is not None), return_exceptions=True
    )
    assert results.count(True) == 2
    assert all(isinstance(r, TooManyActiveJobs) for r in results if r is not True)
    queued = await store.list_page(Scope(owner), JobStatus.QUEUED, None, 10)
    assert len(queued) == 2
    assert not await store.restart(queued[0], max_active=2)  # queued: no longer failed
    refused = next(r for r, result in zip(failed, results, strict=True) if result is not True)
    assert refused is not None
    still = await store.get(refused.id)
    assert still is not None
    assert (still.status, still.run) == (JobStatus.FAILED, 1)


async def test_the_sweep_keeps_a_job_until_its_webhook_is_no_longer_pending(
    store: JobStore,
) -> None:
    plain, delivered, given_up = (new_record() for _ in range(3))
    hooked = [new_record(callback_url="https://example.com/hook") for _ in range(2)]
    for record in (plain, delivered, given_up, *hooked):
        await store.add(record)
        await store.apply_event(event(record, EventKind.SUCCEEDED))
    for record, settled in ((delivered, WebhookStatus.DELIVERED), (given_up, WebhookStatus.FAILED)):
        await store.record_webhook_try(record.id, 1, 1, settled, None)
    pending, settling = hooked
    await store.record_webhook_try(settling.id, 1, 1, WebhookStatus.PENDING, "HTTP 500")
    cutoff = utc_now() + timedelta(seconds=1)  # every job finished before it

    found = set(await store.finished_before(cutoff, 10))
    assert found == {plain.id, delivered.id, given_up.id}
    assert not await store.delete_finished(pending.id, None, cutoff)
    assert await store.delete_finished(pending.id, None)  # a DELETE by hand is not held back
    await store.record_webhook_try(settling.id, 1, 2, WebhookStatus.DELIVERED, None)
    assert settling.id in await store.finished_before(cutoff, 10)
    assert await store.delete_finished(settling.id, None, cutoff)


async def test_the_sweep_s_query_is_a_range_on_its_index(
    store: JobStore, empty_database: EmptyDatabase
) -> None:
    statement = expired_jobs(utc_now(), 100)
    database = empty_database.open()

    def plan(session: Session) -> str:
        dialect = session.get_bind().dialect
        compiled = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        if dialect.name == "sqlite":
            rows = session.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}"))
            return "\n".join(str(row[-1]) for row in rows)
        # An empty table is cheapest to scan; the question is whether the index can serve.
        session.execute(sa.text("SET LOCAL enable_seqscan = off"))
        return "\n".join(str(row[0]) for row in session.execute(sa.text(f"EXPLAIN {compiled}")))

    try:
        text = await database.run(plan, write=True)
    finally:
        await database.dispose()
    assert "ix_jobs_status_updated" in text, text

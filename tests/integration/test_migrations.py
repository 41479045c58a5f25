"""Schema migrations on SQLite and PostgreSQL: from nothing, from a database the first release
made without migrations, and as a command of its own."""

import asyncio
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy.orm import Session

from producer_service.db.database import Database
from producer_service.db.migrate import MIGRATIONS
from producer_service.db.rows import row_from_record
from producer_service.db.store import JobStore
from producer_service.db.tables import Base
from producer_service.records import JobRecord
from shared.settings import SERVICE_VARIABLES
from shared.variants import DEFAULT_VARIANTS
from tests.support import ROOT, EmptyDatabase


async def columns(database: Database) -> set[str]:
    found = await database.run(
        lambda session: sa.inspect(session.connection()).get_columns("jobs"), write=False
    )
    return {column["name"] for column in found}


async def test_migrating_an_empty_database_creates_the_newest_schema(
    empty_database: EmptyDatabase,
) -> None:
    database = empty_database.open()
    store = JobStore(database)
    try:
        await store.migrate()
        await store.migrate()  # a second start finds nothing to do
        # The migrated schema is the models' schema: every table, column, index and constraint.
        differences = await database.run(
            lambda session: compare_metadata(
                MigrationContext.configure(session.connection()), Base.metadata
            ),
            write=False,
        )
        await store.add(JobRecord.new(uuid.uuid4(), DEFAULT_VARIANTS, "originals/x", "k", "f"))
    finally:
        await store.close()
    assert differences == []


@pytest.mark.parametrize("empty_database", ["postgresql"], indirect=True)
async def test_replicas_starting_together_migrate_one_at_a_time(
    empty_database: EmptyDatabase,
) -> None:
    """API pods started at once (deploy/kubernetes runs two, more in a rollout) each migrate
    at start: they queue on the advisory lock, one migrates, the others find nothing to do."""
    stores = [JobStore(empty_database.open()) for _ in range(4)]
    try:
        await asyncio.gather(*(store.migrate() for store in stores))
        await stores[-1].add(JobRecord.new(uuid.uuid4(), DEFAULT_VARIANTS, "originals/x", "k"))
    finally:
        await asyncio.gather(*(store.close() for store in stores))


async def test_a_database_made_before_migrations_is_adopted_with_its_jobs(
    empty_database: EmptyDatabase,
) -> None:
    database = empty_database.open()
    job_id = uuid.uuid4()
    try:
        # What the first release's create_all made: the first revision, and no version table.
        await database.run(_first_release_schema, write=True)
        legacy = JobRecord.new(job_id, DEFAULT_VARIANTS, f"originals/{job_id}", "key-1")
        jobs = Base.metadata.tables["jobs"]
        row = row_from_record(legacy)
        legacy_columns = await columns(database)
        values = {c.name: getattr(row, c.name) for c in jobs.columns if c.name in legacy_columns}
        # Only the first release's columns, without the defaults of later ones.
        legacy_table = sa.Table(
            "jobs",
            sa.MetaData(),
            *(sa.Column(c.name, c.type) for c in jobs.columns if c.name in values),
        )
        insert = sa.insert(legacy_table).values(values)
        await database.run(lambda session: session.execute(insert), write=True)
        later = {"request_fingerprint", "source", "placeholder", "owner"}
        assert not later & legacy_columns
        store = JobStore(database)
        await store.migrate()
        kept = await store.get(job_id)
        assert later <= await columns(database)
    finally:
        await database.dispose()
    assert kept is not None
    assert kept.idempotency_key == "key-1"
    assert kept.request_fingerprint is None
    assert (kept.source, kept.placeholder, kept.owner) == (None, None, "")


def _first_release_schema(session: Session) -> None:
    connection = session.connection()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "0001")
    connection.execute(sa.text("DROP TABLE alembic_version"))


def test_the_migrate_command_brings_a_new_store_up_to_date(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if name not in SERVICE_VARIABLES}
    data_dir = tmp_path / "data"  # not there yet, as on a first deployment
    env["DATA_DIR"] = str(data_dir)
    result = subprocess.run(
        [sys.executable, "-m", "producer_service", "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    with sqlite3.connect(data_dir / "jobs.db") as database:
        (version,) = database.execute("SELECT version_num FROM alembic_version").fetchone()
        names = {row[1] for row in database.execute("PRAGMA table_info(jobs)")}
    assert (
        version == sorted(path.stem.split("_")[0] for path in MIGRATIONS.glob("versions/0*.py"))[-1]
    )
    assert "request_fingerprint" in names

"""Bringing the job store's schema up to date: at API start, and `python -m producer_service
migrate` for deployments that migrate as a step of their own.

Replicas starting together on PostgreSQL queue on a transaction-scoped advisory lock, so one
migrates and the others then find nothing to do. A database made before migrations existed (by
`create_all`) is stamped at the first revision, which matches it, and then upgraded.
"""

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE_REVISION = "0001"
MIGRATION_LOCK = 7262001


def migrate(connection: Connection) -> None:
    """Upgrade to the newest revision within `connection`'s transaction."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    tables = sa.inspect(connection).get_table_names()
    if "jobs" in tables and "alembic_version" not in tables:
        command.stamp(config, BASELINE_REVISION)
    command.upgrade(config, "head")

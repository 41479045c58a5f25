"""Alembic's entry point. Migrations run on the connection `producer_service.db.migrate` passes in
(`config.attributes["connection"]`), inside its transaction and lock; offline SQL is not used."""

from alembic import context
from sqlalchemy.engine import Connection

from producer_service.db.tables import Base

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `python -m producer_service migrate`")
# Batch mode lets SQLite, which alters little in place, take the same migrations.
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

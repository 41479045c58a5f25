"""Alembic migrations of the job store; `producer_service.db.migrate` runs them."""

"""Alembic migrations of the job store; `producer_service.migrate` runs them."""
